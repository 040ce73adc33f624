#ifndef WISP_NET_H
#define WISP_NET_H

/* Brings up lo with 127.0.0.1/8; programs expect localhost to work. */
void loopback_up(void);

#endif

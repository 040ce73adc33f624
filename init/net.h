#ifndef WISP_NET_H
#define WISP_NET_H

/* Brings up lo with 127.0.0.1/8; programs expect localhost to work. */
void loopback_up(void);

struct config;
/* The NIC of --net user (wisp.net): eth0 up with its address, MTU and
 * default route, from ioctls (no DHCP client). 0, or -1 after a warning. */
int net_up(const struct config *c);

#endif

/* The guest half of localhost port forwarding (docs/protocol.md,
 * "Forwarded ports"): a process of PID 1's own, so that a fault in it
 * cannot take PID 1 down. It polls /proc/net/tcp and tells the host, at
 * every change, which TCP ports listen on 0.0.0.0 or 127.0.0.1; and it
 * listens on vsock for the host's connections to those ports (host CID
 * only), joining each to 127.0.0.1:PORT. When the host does not take its
 * announcement connection (forwarding is off), it exits at once. */
#ifndef WISP_FORWARD_H
#define WISP_FORWARD_H

#include <sys/types.h>

/* Forks the forwarder; its pid, or -1 when it could not be started. */
pid_t forward_start(void);

#endif

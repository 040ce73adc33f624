/* The host time service of docs/time.md, answered inside wisp-vsockd: a
 * guest connection to CID 2 port TIME_WIRE_PORT is joined to one end of a
 * socketpair instead of <uds>_PORT, and this service reads requests from
 * the other end and answers each with CLOCK_REALTIME, read just before the
 * answer is written. The connection layer treats that end like any host
 * socket, so the service needs nothing from it but the hook in
 * vsock_dev_serve_port().
 *
 * Guest bytes are parsed by time_wire_rx_feed() (common/time_wire.h): a
 * connection that sends anything but well-formed requests is closed. At
 * most TIME_SERVICE_MAX_CONNS connections are open; a new one closes the
 * oldest, so that idle guest processes cannot lock PID 1 out. */
#ifndef WISP_TIME_SERVICE_H
#define WISP_TIME_SERVICE_H

#define TIME_SERVICE_MAX_CONNS 8

struct time_service;

struct time_service *time_service_new(void);
/* An epoll fd that is readable when a connection needs time_service_run(). */
int time_service_fd(const struct time_service *ts);
/* For vsock_dev_serve_port(): a new connection; returns the fd the
 * connection layer owns, or -1. ctx is the struct time_service. */
int time_service_open(void *ctx);
/* Answers every request that has arrived; closes ended connections. */
void time_service_run(struct time_service *ts);
/* Writes its log limiter's late count line: see log_limit_tick(). */
int time_service_tick(struct time_service *ts);
void time_service_free(struct time_service *ts);

#endif

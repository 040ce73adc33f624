/* The virtio-vsock device: connections between the guest's stream sockets
 * and Unix sockets on the host, in Firecracker's hybrid convention.
 *
 *   host -> guest: a client connects to the listener at <uds> and writes
 *                  "CONNECT <port>\n"; once the guest accepts it reads
 *                  "OK <host port>\n", then bytes flow both ways.
 *   guest -> host: a guest connection to CID 2 port P is joined to the
 *                  Unix socket <uds>_P, which a host program listens on.
 *
 * Credit-based flow control both ways: at most CONN_BUF_ALLOC bytes from
 * the guest are buffered per connection, and nothing is read from a host
 * socket that the guest has no credit or rx buffer for. At most MAX_CONNS
 * connections at once: past that a request is reset, a CONNECT closed.
 * A host client that hangs up (closes, or shuts both ways) ends its
 * connection in any state: at once when nothing it wrote waits for the
 * guest, else once the guest has taken it or took none for a grace time. */
#ifndef WISP_VSOCK_DEV_H
#define WISP_VSOCK_DEV_H

#include <stdint.h>

#include "vu_dev.h"

struct vsock_dev;

struct vsock_dev *vsock_dev_new(struct vu_dev *vu, const char *uds_path, int epfd);
/* Guest connections to port are served in this process: open_fd(ctx)
 * returns the fd that stands for the host end (e.g. one end of a
 * socketpair), or -1 to refuse the connection. */
void vsock_dev_serve_port(struct vsock_dev *v, uint32_t port, int (*open_fd)(void *ctx), void *ctx);
/* Watches the hybrid socket's listener fd (non-blocking; the caller keeps
 * it) in epoll with tag as its data; call vsock_dev_accept_ready() when
 * it is readable. With the fd table full it is not watched for a while
 * (no busy loop), until a connection closes or a second has passed. */
void vsock_dev_listen(struct vsock_dev *v, int fd, uint64_t tag);
void vsock_dev_accept_ready(struct vsock_dev *v);
/* A host client connected on fd (vsock_dev_accept_ready() calls it). */
void vsock_dev_accept(struct vsock_dev *v, int fd);
/* Readiness of a connection's Unix socket (the epoll data pointer). */
void vsock_dev_conn_event(struct vsock_dev *v, void *conn, uint32_t events);
/* Moves what can move now: the guest's packets (kicked or not) to sockets,
 * bytes and control packets to the guest, at most a budget of each per
 * pass so that one busy guest cannot hold the loop; also ends connections
 * whose timers ran out. Returns 1 when it stopped at a budget: call it
 * again soon, after the events that are waiting (epoll_wait with timeout
 * 0). Call it after a whole batch of events, never in the middle: a guest
 * packet can free a connection that a later event of the same batch still
 * points to. */
int vsock_dev_pump(struct vsock_dev *v);
/* Writes the late count lines of the log's limiters. Returns the
 * milliseconds until vsock_dev_pump() or this has a timer to act on, or
 * -1 when none. */
int vsock_dev_tick(struct vsock_dev *v);
/* Closes every connection (QEMU went away). */
void vsock_dev_free(struct vsock_dev *v);

#endif

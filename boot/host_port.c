/* The --host-port relays (host_port.h). */
#include "host_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msg.h"

void host_ports_init(struct host_ports *h)
{
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < OPTIONS_MAX_HOST_PORTS; i++)
		h->l[i].w.fd = -1;
	for (size_t i = 0; i < HOST_PORT_MAX_CONNS; i++)
		h->conns[i].guest_fd = h->conns[i].connecting.fd = -1;
}

/* Listeners sleep while the connections are at their cap. */
static void listeners_events(struct host_ports *h, uint32_t events)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->l[i].w.fd >= 0)
			loop_set_events(h->loop, &h->l[i].w, events);
}

static void conn_end(struct host_port_conn *c)
{
	struct host_ports *h = c->owner;
	splice_stop(&c->s);
	loop_close(h->loop, &c->connecting);
	close_fd(&c->guest_fd);
	c->used = 0;
	if (h->nconns-- == HOST_PORT_MAX_CONNS)
		listeners_events(h, EPOLLIN);
}

static void on_spliced(struct splice *s)
{
	conn_end(container_of(s, struct host_port_conn, s));
}

static void on_connected(struct watch *w, uint32_t events)
{
	(void)events;
	struct host_port_conn *c = container_of(w, struct host_port_conn, connecting);
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		/* Nothing listens on the host: the guest sees its connection
		 * end, as it would. */
		conn_end(c);
		return;
	}
	int host_fd = loop_del(c->owner->loop, w);
	int guest_fd = c->guest_fd;
	c->guest_fd = -1; /* the splice's now, even if it fails */
	if (splice_start(&c->s, c->owner->loop, guest_fd, host_fd, SPLICE_BUF_DEFAULT, on_spliced) <
	    0)
		conn_end(c);
}

static void relay(struct host_port_listener *pl, int guest_fd)
{
	struct host_ports *h = pl->owner;
	struct host_port_conn *c = h->conns;
	while (c->used)
		c++; /* the caller checked the count */
	c->owner = h;
	c->used = 1;
	c->guest_fd = guest_fd;
	if (++h->nconns == HOST_PORT_MAX_CONNS)
		listeners_events(h, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(pl->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) ||
	    loop_add(h->loop, &c->connecting, fd, EPOLLOUT, on_connected) < 0) {
		if (fd >= 0)
			close(fd);
		conn_end(c);
	}
}

static void on_accept(struct watch *w, uint32_t events)
{
	(void)events;
	struct host_port_listener *pl = container_of(w, struct host_port_listener, w);
	while (pl->owner->nconns < HOST_PORT_MAX_CONNS) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				msg_warn("--host-port %u: accept: %s", pl->port, strerror(errno));
			return;
		}
		relay(pl, fd);
	}
}

int host_ports_start(struct host_ports *h, struct loop *l, const int *fds,
		     const unsigned short *ports, size_t n)
{
	h->loop = l;
	int ok = 1;
	for (size_t i = 0; i < n; i++) {
		struct host_port_listener *pl = &h->l[h->n];
		pl->owner = h;
		pl->port = ports[i];
		if (ok && loop_add(l, &pl->w, fds[i], EPOLLIN, on_accept) == 0) {
			h->n++;
			continue;
		}
		if (ok)
			msg_warn("--host-port %u: epoll: %s", ports[i], strerror(errno));
		ok = 0;
		close(fds[i]);
	}
	return ok ? 0 : -1;
}

void host_ports_free(struct host_ports *h, struct loop *l)
{
	if (!h->loop)
		return;
	for (size_t i = 0; i < HOST_PORT_MAX_CONNS; i++)
		if (h->conns[i].used)
			conn_end(&h->conns[i]);
	for (size_t i = 0; i < h->n; i++)
		loop_close(l, &h->l[i].w);
	h->n = 0;
}

/* The -p relays (net_publish.h). */
#include "net_publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err_text.h"
#include "msg.h"
#include "net_stack.h"
#include "splice.h"

#define DATAGRAM_MAX 65536

void net_publish_init(struct net_publish *pb)
{
	memset(pb, 0, sizeof(*pb));
	for (size_t i = 0; i < OPTIONS_MAX_PUBLISH; i++)
		pb->ports[i].w.fd = -1;
	for (size_t i = 0; i < PUBLISH_MAX_CONNS; i++)
		pb->conns[i].client_fd = pb->conns[i].connecting.fd = -1;
	for (size_t i = 0; i < PUBLISH_MAX_PEERS; i++)
		pb->peers[i].w.fd = -1;
}

int net_publish_bind(struct net_publish *pb, const struct run_opts *o, char *err, size_t errlen)
{
	for (size_t i = 0; i < o->npublish; i++) {
		const struct publish *p = &o->publish[i];
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p->host_port) };
		inet_pton(AF_INET, p->host_ip, &a.sin_addr);
		int fd = socket(AF_INET,
				(p->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK,
				0);
		int one = 1;
		if (fd >= 0 && !p->udp)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    (!p->udp && listen(fd, 64) < 0)) {
			int saved = errno;
			if (fd >= 0)
				close(fd);
			return err_fail(err, errlen, "-p %s:%u/%s: %s", p->host_ip, p->host_port,
					p->udp ? "udp" : "tcp", strerror(saved));
		}
		struct publish_port *pp = &pb->ports[pb->n++];
		pp->w.fd = fd; /* watched from net_publish_start() */
		pp->p = p;
		pp->ns_port = net_ns_port(o, i);
		pp->owner = pb;
	}
	return 0;
}

/* --- TCP --- */

/* A port accepts while it is under its share of the connections. */
static void port_events(struct publish_port *pp)
{
	loop_set_events(pp->owner->loop, &pp->w, pp->nconns < pp->owner->conn_share ? EPOLLIN : 0);
}

static void conn_end(struct publish_conn *c)
{
	struct net_publish *pb = c->port->owner;
	if (c->requested)
		net_ns_cancel(pb->ns, &c->req);
	c->requested = 0;
	splice_stop(&c->s);
	loop_close(pb->loop, &c->connecting);
	close_fd(&c->client_fd);
	c->used = 0;
	pb->nconns--;
	if (c->port->nconns-- == pb->conn_share)
		port_events(c->port);
}

static void on_spliced(struct splice *s)
{
	conn_end(container_of(s, struct publish_conn, s));
}

static void on_connected(struct watch *w, uint32_t events)
{
	(void)events;
	struct publish_conn *c = container_of(w, struct publish_conn, connecting);
	struct net_publish *pb = c->port->owner;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		conn_end(c); /* QEMU is not there (yet, or any more) */
		return;
	}
	int fd = loop_del(pb->loop, w);
	int client = c->client_fd;
	c->client_fd = -1; /* the splice's now, even if it fails */
	if (splice_start(&c->s, pb->loop, client, fd, SPLICE_BUF_DEFAULT, on_spliced) < 0)
		conn_end(c);
}

static void on_ns_socket(struct ns_request *r, int fd, int err)
{
	(void)err;
	struct publish_conn *c = container_of(r, struct publish_conn, req);
	c->requested = 0;
	if (fd < 0 ||
	    loop_add(c->port->owner->loop, &c->connecting, fd, EPOLLOUT, on_connected) < 0) {
		if (fd >= 0)
			close(fd);
		conn_end(c);
	}
}

static void on_accept(struct publish_port *pp)
{
	struct net_publish *pb = pp->owner;
	while (pp->nconns < pb->conn_share) {
		int fd = accept4(pp->w.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				msg_warn("-p %u: accept: %s", pp->p->host_port, strerror(errno));
			return;
		}
		struct publish_conn *c = pb->conns;
		while (c->used)
			c++; /* the count says one is free */
		c->port = pp;
		c->used = 1;
		c->client_fd = fd;
		pb->nconns++;
		if (++pp->nconns == pb->conn_share)
			port_events(pp);
		c->req.done = on_ns_socket;
		c->req.udp = 0;
		c->req.port = pp->ns_port;
		c->requested = 1;
		net_ns_request(pb->ns, &c->req);
	}
}

/* --- UDP --- */

static void peer_end(struct publish_peer *q)
{
	struct net_publish *pb = q->port->owner;
	if (q->requested)
		net_ns_cancel(pb->ns, &q->req);
	q->requested = 0;
	loop_close(pb->loop, &q->w);
	free(q->first);
	q->first = NULL;
	if (q->used)
		q->port->npeers--;
	q->used = 0;
}

/* The guest's answer, back to the peer it is for. */
static void on_peer_answer(struct watch *w, uint32_t events)
{
	(void)events;
	struct publish_peer *q = container_of(w, struct publish_peer, w);
	static char buf[DATAGRAM_MAX];
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(w->fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				peer_end(q); /* refused: QEMU has no hostfwd there */
			return;
		}
		/* A full socket buffer drops it, as UDP may. */
		if (sendto(q->port->w.fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&q->addr,
			   sizeof(q->addr)) < 0 &&
		    errno != EAGAIN)
			return;
	}
}

static void on_peer_socket(struct ns_request *r, int fd, int err)
{
	(void)err;
	struct publish_peer *q = container_of(r, struct publish_peer, req);
	q->requested = 0;
	if (fd < 0 || loop_add(q->port->owner->loop, &q->w, fd, EPOLLIN, on_peer_answer) < 0) {
		if (fd >= 0)
			close(fd);
		peer_end(q);
		return;
	}
	if (q->first && send(fd, q->first, q->first_len, MSG_DONTWAIT) < 0) {
		/* dropped, as UDP may */
	}
	free(q->first);
	q->first = NULL;
}

/* The peer's slot: its own, else a free one while its port is under its
 * share, else the one of its port's peers heard from longest ago (*fresh
 * set for the last two). The shares add up to at most the slots. */
static struct publish_peer *peer_slot(struct publish_port *pp, const struct sockaddr_in *a,
				      int *fresh)
{
	struct net_publish *pb = pp->owner;
	struct publish_peer *free_slot = NULL, *oldest = NULL;
	*fresh = 1;
	for (size_t i = 0; i < PUBLISH_MAX_PEERS; i++) {
		struct publish_peer *q = &pb->peers[i];
		if (!q->used) {
			free_slot = free_slot ? free_slot : q;
			continue;
		}
		if (q->port != pp)
			continue;
		if (q->addr.sin_port == a->sin_port &&
		    q->addr.sin_addr.s_addr == a->sin_addr.s_addr) {
			*fresh = 0;
			return q;
		}
		if (!oldest || q->heard < oldest->heard)
			oldest = q;
	}
	if (pp->npeers < pb->peer_share && free_slot)
		return free_slot;
	if (oldest)
		peer_end(oldest); /* at its share */
	return oldest;
}

static void on_datagram(struct publish_port *pp)
{
	struct net_publish *pb = pp->owner;
	static char buf[DATAGRAM_MAX];
	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(pp->w.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n < 0)
			return;
		int fresh;
		struct publish_peer *q = peer_slot(pp, &from, &fresh);
		if (!q)
			continue;
		q->heard = ++pb->heard;
		if (!fresh) {
			if (q->w.fd >= 0 && send(q->w.fd, buf, (size_t)n, MSG_DONTWAIT) < 0) {
				/* dropped, as UDP may */
			}
			continue;
		}
		q->first = malloc((size_t)n + 1);
		if (!q->first)
			continue;
		memcpy(q->first, buf, (size_t)n);
		q->first_len = (size_t)n;
		q->port = pp;
		q->used = 1;
		pp->npeers++;
		q->addr = from;
		q->req.done = on_peer_socket;
		q->req.udp = 1;
		q->req.port = pp->ns_port;
		q->requested = 1;
		net_ns_request(pb->ns, &q->req);
	}
}

static void on_port(struct watch *w, uint32_t events)
{
	(void)events;
	struct publish_port *pp = container_of(w, struct publish_port, w);
	if (pp->p->udp)
		on_datagram(pp);
	else
		on_accept(pp);
}

int net_publish_start(struct net_publish *pb, struct loop *l, struct net_ns *ns)
{
	pb->loop = l;
	pb->ns = ns;
	size_t tcp = 0, udp = 0;
	for (size_t i = 0; i < pb->n; i++) {
		if (pb->ports[i].p->udp)
			udp++;
		else
			tcp++;
	}
	pb->conn_share = PUBLISH_MAX_CONNS / (tcp ? tcp : 1);
	pb->peer_share = PUBLISH_MAX_PEERS / (udp ? udp : 1);
	for (size_t i = 0; i < pb->n; i++) {
		struct publish_port *pp = &pb->ports[i];
		int fd = pp->w.fd;
		pp->w.fd = -1;
		if (loop_add(l, &pp->w, fd, EPOLLIN, on_port) < 0) {
			msg_warn("epoll: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	return 0;
}

void net_publish_free(struct net_publish *pb)
{
	for (size_t i = 0; i < PUBLISH_MAX_CONNS; i++)
		if (pb->conns[i].used)
			conn_end(&pb->conns[i]);
	for (size_t i = 0; i < PUBLISH_MAX_PEERS; i++)
		if (pb->peers[i].used)
			peer_end(&pb->peers[i]);
	for (size_t i = 0; i < pb->n; i++) {
		if (pb->loop)
			loop_close(pb->loop, &pb->ports[i].w);
		else
			close_fd(&pb->ports[i].w.fd);
	}
	pb->n = 0;
}

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

/* One TCP connection: the host's client, and its way into the namespace. */
struct publish_conn {
	struct publish_port *port;
	struct publish_conn *next, **pprev;
	int client_fd;
	struct ns_request req;
	int requested;           /* req is queued at the keeper */
	struct watch connecting; /* the namespace's socket until connected */
	struct splice s;
	int spliced;
};

/* One UDP peer of a published port and its socket in the namespace. */
struct publish_peer {
	struct publish_port *port;
	struct publish_peer *next, **pprev;
	struct sockaddr_in addr;
	struct ns_request req;
	int requested;
	struct watch w; /* the namespace's socket, once it came */
	char *first;    /* what the peer sent before it came */
	size_t first_len;
};

#define DATAGRAM_MAX 65536

void net_publish_init(struct net_publish *pb)
{
	memset(pb, 0, sizeof(*pb));
	for (size_t i = 0; i < OPTIONS_MAX_PUBLISH; i++)
		pb->ports[i].w.fd = -1;
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

static void ports_events(struct net_publish *pb, uint32_t events)
{
	for (size_t i = 0; i < pb->n; i++)
		if (!pb->ports[i].p->udp)
			loop_set_events(pb->loop, &pb->ports[i].w, events);
}

static void conn_free(struct publish_conn *c)
{
	struct net_publish *pb = c->port->owner;
	if (c->requested)
		net_ns_cancel(pb->ns, &c->req);
	if (c->spliced)
		splice_stop(&c->s);
	loop_close(pb->loop, &c->connecting);
	close_fd(&c->client_fd);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	if (pb->nconns-- == PUBLISH_MAX_CONNS)
		ports_events(pb, EPOLLIN);
	free(c);
}

static void on_spliced(struct splice *s)
{
	struct publish_conn *c = container_of(s, struct publish_conn, s);
	c->spliced = 0; /* the splice closed both */
	c->client_fd = -1;
	conn_free(c);
}

static void on_connected(struct watch *w, uint32_t events)
{
	(void)events;
	struct publish_conn *c = container_of(w, struct publish_conn, connecting);
	struct net_publish *pb = c->port->owner;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		conn_free(c); /* QEMU is not there (yet, or any more) */
		return;
	}
	int fd = loop_del(pb->loop, w);
	if (splice_start(&c->s, pb->loop, c->client_fd, fd, on_spliced) < 0) {
		close(fd);
		conn_free(c);
		return;
	}
	c->spliced = 1;
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
		conn_free(c);
	}
}

static void on_accept(struct publish_port *pp)
{
	struct net_publish *pb = pp->owner;
	while (pb->nconns < PUBLISH_MAX_CONNS) {
		int fd = accept4(pp->w.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				msg_warn("-p %u: accept: %s", pp->p->host_port, strerror(errno));
			return;
		}
		struct publish_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->port = pp;
		c->client_fd = fd;
		c->connecting.fd = -1;
		c->next = pb->conns;
		if (c->next)
			c->next->pprev = &c->next;
		c->pprev = &pb->conns;
		pb->conns = c;
		if (++pb->nconns == PUBLISH_MAX_CONNS)
			ports_events(pb, 0);
		c->req.done = on_ns_socket;
		c->req.port = pp->ns_port;
		c->requested = 1;
		net_ns_request(pb->ns, &c->req);
	}
}

/* --- UDP --- */

static void peer_unlink(struct publish_peer *q)
{
	*q->pprev = q->next;
	if (q->next)
		q->next->pprev = q->pprev;
}

static void peer_push(struct net_publish *pb, struct publish_peer *q)
{
	q->next = pb->peers;
	if (q->next)
		q->next->pprev = &q->next;
	q->pprev = &pb->peers;
	pb->peers = q;
}

static void peer_free(struct publish_peer *q)
{
	struct net_publish *pb = q->port->owner;
	if (q->requested)
		net_ns_cancel(pb->ns, &q->req);
	loop_close(pb->loop, &q->w);
	peer_unlink(q);
	pb->npeers--;
	free(q->first);
	free(q);
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
				peer_free(q); /* refused: QEMU has no hostfwd there */
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
		peer_free(q);
		return;
	}
	if (q->first && send(fd, q->first, q->first_len, MSG_DONTWAIT) < 0) {
		/* dropped, as UDP may */
	}
	free(q->first);
	q->first = NULL;
}

static struct publish_peer *peer_find(struct publish_port *pp, const struct sockaddr_in *a)
{
	for (struct publish_peer *q = pp->owner->peers; q; q = q->next)
		if (q->port == pp && q->addr.sin_port == a->sin_port &&
		    q->addr.sin_addr.s_addr == a->sin_addr.s_addr)
			return q;
	return NULL;
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
		struct publish_peer *q = peer_find(pp, &from);
		if (q) {
			/* Most recently heard first: the last is the one to evict. */
			peer_unlink(q);
			peer_push(pb, q);
			if (q->w.fd >= 0 && send(q->w.fd, buf, (size_t)n, MSG_DONTWAIT) < 0) {
				/* dropped, as UDP may */
			}
			continue;
		}
		if (pb->npeers == PUBLISH_MAX_PEERS) {
			struct publish_peer *last = pb->peers;
			while (last->next)
				last = last->next;
			peer_free(last);
		}
		q = calloc(1, sizeof(*q));
		char *first = malloc((size_t)n + 1);
		if (!q || !first) {
			free(q);
			free(first);
			continue;
		}
		memcpy(first, buf, (size_t)n);
		q->port = pp;
		q->addr = from;
		q->w.fd = -1;
		q->first = first;
		q->first_len = (size_t)n;
		peer_push(pb, q);
		pb->npeers++;
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
	while (pb->conns)
		conn_free(pb->conns);
	while (pb->peers)
		peer_free(pb->peers);
	for (size_t i = 0; i < pb->n; i++) {
		if (pb->loop)
			loop_close(pb->loop, &pb->ports[i].w);
		else
			close_fd(&pb->ports[i].w.fd);
	}
	pb->n = 0;
}

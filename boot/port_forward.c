/* Localhost port forwarding, host side (port_forward.h). */
#include "port_forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/unix_sock.h"
#include "../common/wire.h"

/* Connections a forwarded port's listener takes per turn of the loop. */
#define ACCEPT_BATCH 16
#define LISTEN_BACKLOG 128

static void say(struct port_forward *pf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct port_forward *pf, const char *fmt, ...)
{
	char line[300] = "wisp: ";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + 6, sizeof(line) - 6, fmt, ap);
	va_end(ap);
	pf->log(pf->log_ctx, line);
}

/* --- the state file --- */

static void write_state(struct port_forward *pf)
{
	char tmp[sizeof(pf->state_path) + 8], text[PORT_LIST_MAX * 7];
	size_t len = 0;
	for (size_t i = 0; i < PORT_LIST_MAX; i++)
		if (pf->ports[i].w.fd >= 0)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%u\n",
						(unsigned)pf->ports[i].port);
	/* Whole or not at all: `wisp port` may read it at any moment. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", pf->state_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
	if (fd >= 0 && close(fd) < 0)
		ok = 0;
	if (!ok || rename(tmp, pf->state_path) < 0) {
		say(pf, "%s: %s", pf->state_path, strerror(errno));
		unlink(tmp);
	}
}

/* --- connections to forwarded ports --- */

static void conn_release(struct fwd_conn *c)
{
	close_fd(&c->client);
	c->used = 0;
}

static void on_spliced(struct splice *s)
{
	conn_release(container_of(s, struct fwd_conn, sp));
}

static void on_dialled(struct dial *d, int fd, const char *err)
{
	(void)err; /* the guest's listener went away meanwhile: the client sees the end */
	struct fwd_conn *c = container_of(d, struct fwd_conn, dial);
	struct port_forward *pf = c->pf;
	uint8_t hdr[PORT_HDR_SIZE];
	port_put_header(hdr, c->port);
	if (fd < 0) {
		conn_release(c);
		return;
	}
	/* A fresh connection's buffer takes the header whole; the client's
	 * bytes follow it through the splice. */
	int client = c->client;
	c->client = -1;
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    splice_start(&c->sp, pf->loop, client, fd, SPLICE_BUF_DEFAULT, on_spliced) < 0) {
		close_fd(&fd);
		close_fd(&client);
		conn_release(c);
	}
}

static struct fwd_conn *conn_slot(struct port_forward *pf)
{
	for (size_t i = 0; i < FWD_MAX_CONNS; i++)
		if (!pf->conns[i].used)
			return &pf->conns[i];
	return NULL;
}

static void on_client(struct watch *w, uint32_t events)
{
	(void)events;
	struct fwd_listener *fl = container_of(w, struct fwd_listener, w);
	struct port_forward *pf = fl->pf;
	for (int i = 0; i < ACCEPT_BATCH && fl->w.fd >= 0; i++) {
		int fd = accept4(fl->w.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct fwd_conn *c = conn_slot(pf);
		if (!c) {
			if (!pf->said_full)
				say(pf,
				    "forwarded ports: more than %d connections at once; "
				    "closing the newest",
				    FWD_MAX_CONNS);
			pf->said_full = 1;
			close(fd);
			continue;
		}
		c->used = 1;
		c->client = fd;
		c->port = fl->port; /* for the header: the dial's port is the forwarder's */
		if (dial_start(&c->dial, pf->loop, pf->vsock_path, WIRE_FWD_CONNECT_PORT,
			       FWD_DIAL_MS, on_dialled) < 0) {
			conn_release(c);
			continue;
		}
	}
}

/* --- the listeners --- */

static int listen_port(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	/* SO_REUSEADDR: a port just given up (TIME_WAIT) can be taken again. */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int saved = errno;
		close_fd(&fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int wanted(const struct port_forward *pf, uint16_t port)
{
	for (long i = 0; i < pf->nwanted; i++)
		if (pf->wanted[i] == port)
			return 1;
	return 0;
}

static struct fwd_listener *find_port(struct port_forward *pf, uint16_t port)
{
	for (size_t i = 0; i < PORT_LIST_MAX; i++)
		if (pf->ports[i].w.fd >= 0 && pf->ports[i].port == port)
			return &pf->ports[i];
	return NULL;
}

/* Makes the listeners those of the wanted set (nwanted 0: none). */
static void apply(struct port_forward *pf)
{
	int changed = 0;
	for (size_t i = 0; i < PORT_LIST_MAX; i++) {
		struct fwd_listener *fl = &pf->ports[i];
		if (fl->w.fd >= 0 && !wanted(pf, fl->port)) {
			/* Connections made through it go on, as WSL's do. */
			loop_close(pf->loop, &fl->w);
			changed = 1;
		}
	}
	for (long i = 0; i < pf->nwanted; i++) {
		uint16_t port = pf->wanted[i];
		if (find_port(pf, port))
			continue;
		struct fwd_listener *fl = NULL;
		for (size_t k = 0; k < PORT_LIST_MAX && !fl; k++)
			if (pf->ports[k].w.fd < 0)
				fl = &pf->ports[k];
		int fd = fl ? listen_port(port) : -1;
		if (fd >= 0 && loop_add(pf->loop, &fl->w, fd, EPOLLIN, on_client) == 0) {
			fl->port = port;
			changed = 1;
			continue;
		}
		close_fd(&fd);
		/* Once per port: the guest may announce it again and again. */
		if (!(pf->reported[port / 8] & (1u << (port % 8))))
			say(pf, "guest port %u is not forwarded: 127.0.0.1:%u: %s", (unsigned)port,
			    (unsigned)port, strerror(errno));
		pf->reported[port / 8] |= (uint8_t)(1u << (port % 8));
	}
	if (changed)
		write_state(pf);
}

/* --- the guest's announcements --- */

static void on_line(void *ctx, const char *line, size_t len)
{
	struct port_forward *pf = ctx;
	int more;
	long n = port_list_parse(line, len, pf->wanted, PORT_LIST_MAX, &more);
	if (n < 0) {
		pf->broken = 1;
		return;
	}
	if (more && !pf->said_more)
		say(pf, "the guest listens on more than %d ports: forwarding the first ones",
		    PORT_LIST_MAX);
	pf->said_more |= more;
	pf->nwanted = n;
}

static void end_announcements(struct port_forward *pf)
{
	loop_close(pf->loop, &pf->conn);
	pf->lines.len = 0;
	pf->nwanted = 0;
	apply(pf);
}

static void on_announcement(struct watch *w, uint32_t events)
{
	(void)events;
	struct port_forward *pf = container_of(w, struct port_forward, conn);
	char buf[4096];
	ssize_t n = read(w->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* The forwarder is gone (the VM is ending): so are its ports. */
		end_announcements(pf);
		return;
	}
	/* Each line is the whole set: only the last one read counts, so a
	 * guest that floods lines costs one update per read. */
	pf->nwanted = -1;
	pf->broken = 0;
	if (port_lines_feed(&pf->lines, buf, (size_t)n, on_line, pf) < 0 || pf->broken) {
		say(pf, "the guest's port announcements are malformed: forwarding stopped");
		end_announcements(pf);
		return;
	}
	if (pf->nwanted >= 0)
		apply(pf);
}

static void on_announcer(struct watch *w, uint32_t events)
{
	(void)events;
	struct port_forward *pf = container_of(w, struct port_forward, listen);
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* One forwarder at a time, the first: another guest process cannot
	 * take its place while it is there. */
	if (pf->conn.fd >= 0) {
		close(fd);
		return;
	}
	pf->lines.len = 0;
	if (loop_add(pf->loop, &pf->conn, fd, EPOLLIN, on_announcement) < 0)
		close(fd);
}

int port_forward_start(struct port_forward *pf, struct loop *l, const char *vsock_path,
		       const char *dir, void (*log)(void *ctx, const char *line), void *ctx)
{
	memset(pf, 0, sizeof(*pf));
	pf->listen.fd = pf->conn.fd = -1;
	for (size_t i = 0; i < PORT_LIST_MAX; i++) {
		pf->ports[i].pf = pf;
		pf->ports[i].w.fd = -1;
	}
	for (size_t i = 0; i < FWD_MAX_CONNS; i++) {
		pf->conns[i].pf = pf;
		pf->conns[i].client = -1;
	}
	pf->log = log;
	pf->log_ctx = ctx;
	snprintf(pf->vsock_path, sizeof(pf->vsock_path), "%s", vsock_path);
	snprintf(pf->sock_path, sizeof(pf->sock_path), "%s_%d", vsock_path, WIRE_FWD_ANNOUNCE_PORT);
	snprintf(pf->state_path, sizeof(pf->state_path), "%s/" FWD_STATE_FILE, dir);
	unlink(pf->sock_path); /* a leftover of a VM that ran with the same --vsock */
	int fd = unix_listen(pf->sock_path, 4, 1);
	if (fd < 0)
		return -1;
	if (loop_add(l, &pf->listen, fd, EPOLLIN, on_announcer) < 0) {
		int saved = errno;
		close(fd);
		unlink(pf->sock_path);
		errno = saved;
		return -1;
	}
	pf->loop = l;
	return 0;
}

void port_forward_stop(struct port_forward *pf)
{
	if (!pf->loop)
		return;
	for (size_t i = 0; i < FWD_MAX_CONNS; i++) {
		struct fwd_conn *c = &pf->conns[i];
		dial_cancel(&c->dial);
		splice_stop(&c->sp);
		close_fd(&c->client);
		c->used = 0;
	}
	for (size_t i = 0; i < PORT_LIST_MAX; i++)
		loop_close(pf->loop, &pf->ports[i].w);
	loop_close(pf->loop, &pf->conn);
	loop_close(pf->loop, &pf->listen);
	unlink(pf->sock_path);
	unlink(pf->state_path);
	pf->loop = NULL;
}

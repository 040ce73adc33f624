#include "vsock_dev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/queue.h"
#include "log.h"
#include "vsock_proto.h"

/* What we let the guest have in flight per connection. */
#define CONN_BUF_ALLOC (256 * 1024)
/* Tell the guest about freed room once this much has been consumed. */
#define CREDIT_UPDATE_EVERY (CONN_BUF_ALLOC / 4)
#define MAX_CTL 1024
/* A guest, or a host program, gets at most this many connections at once
 * (each may hold CONN_BUF_ALLOC of the other side's bytes); more are reset. */
#define MAX_CONNS 512
#define FIRST_HOST_PORT 1024
/* Chains taken from each queue in one pass of the loop: a guest that keeps
 * its tx ring full (or posts rx buffers as fast as they are used) gets this
 * much, then vhost-user messages, host CONNECTs and the time service get
 * their turn (vhost_net's CVE-2019-3900 is the same pattern). Linux's
 * vhost_net takes 256 packets a turn too. */
#define TX_BUDGET 256
#define RX_BUDGET 256
/* New host connections taken per readable event of the listener. */
#define ACCEPT_BUDGET 64
/* A host client that hung up while some of what it wrote still waits for
 * guest credit or rx buffers: the guest gets this long, from the last byte
 * it took, before the connection is reset. */
#define HOST_GONE_GRACE_MS 10000
/* accept() found the fd table full: try again after this long at the
 * latest (sooner when one of our connections closes). */
#define ACCEPT_RETRY_MS 1000

enum conn_state { C_LINE, C_CONNECTING, C_OPEN };

struct conn {
	struct conn *next;
	int fd;
	enum conn_state state;
	uint32_t host_port, guest_port;
	char line[32];
	size_t line_len;
	struct queue to_fd; /* guest bytes not yet written to fd */
	uint32_t fwd_cnt, fwd_cnt_sent, tx_cnt;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	int readable, writable; /* edge-triggered readiness not yet used up */
	int guest_done_sending; /* SHUTDOWN(SEND) from the guest */
	int fd_shut;            /* ...passed on: shutdown(fd, SHUT_WR) done */
	int host_eof, shutdown_sent;
	int credit_requested; /* asked the guest for credit since it last had room */
	int host_gone;        /* the socket hung up (EPOLLHUP): nothing can go back */
	uint64_t gone_since;  /* ...since then, or since the guest last took a byte */
	int dead;             /* freed at the end of the epoll batch */
};

/* The messages an event can repeat, each through its limiter (log.h). */
enum {
	L_CTL_FULL,
	L_CONNS_FULL,
	L_EPOLL,
	L_BAD_LINE,
	L_OVERRUN,
	L_SHORT_PKT,
	L_BAD_PKT,
	L_SMALL_RX,
	L_ACCEPT,
	L_COUNT
};

struct ctl {
	uint32_t host_port, guest_port;
	uint16_t op;
	uint32_t flags;
	struct conn *conn; /* for buf_alloc/fwd_cnt; NULL after RST */
};

struct vsock_dev {
	struct vu_dev *vu;
	const char *uds;
	int epfd;
	struct conn *conns;
	struct conn *dead; /* closed, not yet freed (see conn_free) */
	size_t nconns;
	struct ctl ctl[MAX_CTL];
	size_t nctl;
	uint32_t next_port;
	uint8_t pkt[VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD];
	int notify_rx, notify_tx;
	int rx_budget;       /* rx chains this pass may still take */
	uint64_t reap_at;    /* when a hung-up connection's grace may end; 0: none */
	int listener;        /* the hybrid socket's listener, or -1 */
	uint64_t listen_tag; /* its epoll data */
	int listen_paused;   /* not watched: the fd table was full */
	uint64_t listen_retry_at;
	int accept_failing;            /* since the last accept() that worked: logged */
	struct log_limit log[L_COUNT]; /* what a guest or a host client can repeat */
	int debug;                     /* WISP_VSOCKD_DEBUG=1: a line per packet */
	uint32_t local_port;           /* served in this process, not at <uds>_P */
	int (*local_open)(void *ctx);
	void *local_ctx;
};

struct vsock_dev *vsock_dev_new(struct vu_dev *vu, const char *uds_path, int epfd)
{
	struct vsock_dev *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->vu = vu;
	v->uds = uds_path;
	v->epfd = epfd;
	v->next_port = FIRST_HOST_PORT;
	v->listener = -1;
	v->log[L_CTL_FULL] = LOG_LIMIT("control queue full: dropping a control packet");
	v->log[L_CONNS_FULL] = LOG_LIMIT("refusing a connection past the limit");
	v->log[L_EPOLL] = LOG_LIMIT("epoll_ctl for a new connection failed");
	v->log[L_BAD_LINE] = LOG_LIMIT("hybrid socket: malformed CONNECT line");
	v->log[L_OVERRUN] = LOG_LIMIT("resetting a guest connection that overran its credit");
	v->log[L_SHORT_PKT] = LOG_LIMIT("dropping a packet shorter than its header");
	v->log[L_BAD_PKT] = LOG_LIMIT("dropping a packet from the guest");
	v->log[L_SMALL_RX] = LOG_LIMIT("rx buffer smaller than a header");
	v->log[L_ACCEPT] = LOG_LIMIT("accept on the hybrid socket failed");
	const char *dbg = getenv("WISP_VSOCKD_DEBUG");
	v->debug = dbg && *dbg == '1';
	return v;
}

void vsock_dev_serve_port(struct vsock_dev *v, uint32_t port, int (*open_fd)(void *ctx), void *ctx)
{
	v->local_port = port;
	v->local_open = open_fd;
	v->local_ctx = ctx;
}

/* ---- the hybrid socket's listener ---- */

void vsock_dev_listen(struct vsock_dev *v, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	v->listener = fd;
	v->listen_tag = tag;
	v->listen_paused = 0;
	if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		log_msg("epoll_ctl for the hybrid socket: %s", strerror(errno));
}

/* The listener is level-triggered: with the fd table full, accept() fails
 * at once and epoll reports it readable again at once, a busy loop. So it
 * is not watched (its events masked, the registration kept) until one of
 * our connections closes, or ACCEPT_RETRY_MS for fds that are not ours. */
static void listen_pause(struct vsock_dev *v, int err)
{
	struct epoll_event ev = { .events = 0, .data.u64 = v->listen_tag };
	/* Once for the episode (the retries fail too), and through the
	 * limiter all the same, in case episodes come and go quickly. */
	if (!v->accept_failing)
		log_limited(
			&v->log[L_ACCEPT],
			"accept on the hybrid socket: %s: not accepting until a connection closes",
			strerror(err));
	v->accept_failing = 1;
	epoll_ctl(v->epfd, EPOLL_CTL_MOD, v->listener, &ev);
	v->listen_paused = 1;
	v->listen_retry_at = mono_ms() + ACCEPT_RETRY_MS;
}

static void listen_resume(struct vsock_dev *v)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = v->listen_tag };
	if (!v->listen_paused)
		return;
	epoll_ctl(v->epfd, EPOLL_CTL_MOD, v->listener, &ev);
	v->listen_paused = 0;
}

static struct conn *find(struct vsock_dev *v, uint32_t host_port, uint32_t guest_port)
{
	for (struct conn *c = v->conns; c; c = c->next)
		if (c->state != C_LINE && c->host_port == host_port && c->guest_port == guest_port)
			return c;
	return NULL;
}

static int port_in_use(struct vsock_dev *v, uint32_t port)
{
	for (struct conn *c = v->conns; c; c = c->next)
		if (c->state != C_LINE && c->host_port == port)
			return 1;
	return 0;
}

static uint32_t alloc_port(struct vsock_dev *v)
{
	while (port_in_use(v, v->next_port) || v->next_port < FIRST_HOST_PORT)
		v->next_port++;
	return v->next_port++;
}

static void queue_ctl(struct vsock_dev *v, struct conn *c, uint32_t host_port, uint32_t guest_port,
		      uint16_t op, uint32_t flags)
{
	/* Credit news is filled in when it is sent: one pending per
	 * connection says it all, however often it was asked for. */
	if (c && (op == VSOCK_OP_CREDIT_UPDATE || op == VSOCK_OP_CREDIT_REQUEST))
		for (size_t i = 0; i < v->nctl; i++)
			if (v->ctl[i].conn == c && v->ctl[i].op == op)
				return;
	if (v->nctl == MAX_CTL) {
		log_limited(
			&v->log[L_CTL_FULL],
			"control queue full: dropping control packets until the guest takes some");
		return;
	}
	v->ctl[v->nctl++] = (struct ctl){ host_port, guest_port, op, flags, c };
}

static int conns_full(struct vsock_dev *v)
{
	if (v->nconns < MAX_CONNS)
		return 0;
	log_limited(&v->log[L_CONNS_FULL], "%d connections open: refusing more until one ends",
		    MAX_CONNS);
	return 1;
}

static struct conn *conn_new(struct vsock_dev *v, int fd, enum conn_state st)
{
	if (conns_full(v)) {
		close(fd);
		return NULL;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c || queue_init(&c->to_fd, CONN_BUF_ALLOC) < 0) {
		free(c);
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->state = st;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.ptr = c };
	if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_limited(&v->log[L_EPOLL], "epoll_ctl: %s", strerror(errno));
		queue_free(&c->to_fd);
		free(c);
		close(fd);
		return NULL;
	}
	c->next = v->conns;
	v->conns = c;
	v->nconns++;
	return c;
}

static void conn_free(struct vsock_dev *v, struct conn *c)
{
	for (struct conn **p = &v->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			v->nconns--;
			break;
		}
	}
	/* Pending control packets keep their ports but lose the pointer. */
	for (size_t i = 0; i < v->nctl; i++)
		if (v->ctl[i].conn == c)
			v->ctl[i].conn = NULL;
	close(c->fd);
	queue_free(&c->to_fd);
	listen_resume(v); /* an fd fewer: accept() may work again */
	/* The caller's batch of epoll events may still name c (a packet from
	 * the guest ended it before its own socket's event came up): the
	 * memory lives until vsock_dev_pump(), after the batch. */
	c->dead = 1;
	c->next = v->dead;
	v->dead = c;
}

static void free_dead(struct vsock_dev *v)
{
	while (v->dead) {
		struct conn *c = v->dead;
		v->dead = c->next;
		free(c);
	}
}

/* Takes back c's REQUEST if it has not gone to the guest yet: 1 if so. */
static int unqueue_request(struct vsock_dev *v, const struct conn *c)
{
	for (size_t i = 0; i < v->nctl; i++) {
		if (v->ctl[i].conn == c && v->ctl[i].op == VSOCK_OP_REQUEST) {
			memmove(v->ctl + i, v->ctl + i + 1, sizeof(v->ctl[0]) * (v->nctl - i - 1));
			v->nctl--;
			return 1;
		}
	}
	return 0;
}

/* Ends a connection with RST to the guest (unless it was never known there). */
static void conn_reset(struct vsock_dev *v, struct conn *c)
{
	if (c->state != C_LINE && !(c->state == C_CONNECTING && unqueue_request(v, c)))
		queue_ctl(v, NULL, c->host_port, c->guest_port, VSOCK_OP_RST, 0);
	conn_free(v, c);
}

void vsock_dev_accept(struct vsock_dev *v, int fd)
{
	conn_new(v, fd, C_LINE);
}

void vsock_dev_accept_ready(struct vsock_dev *v)
{
	for (int i = 0; i < ACCEPT_BUDGET && !v->listen_paused; i++) {
		int fd = accept4(v->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			v->accept_failing = 0;
			vsock_dev_accept(v, fd);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			   errno == ENOMEM) {
			listen_pause(v, errno);
		} else if (errno != EINTR && errno != ECONNABORTED) {
			if (errno != EAGAIN)
				log_limited(&v->log[L_ACCEPT], "accept on the hybrid socket: %s",
					    strerror(errno));
			return;
		}
	}
}

/* ---- host clients that hang up ---- */

/* A socket that hung up (EPOLLHUP: closed, or shut both ways) can take
 * nothing more from the guest. What it wrote before still goes to the
 * guest; once that is done, or the guest took none of it for
 * HOST_GONE_GRACE_MS, the connection ends (reap_gone). */
static void host_hung_up(struct vsock_dev *v, struct conn *c)
{
	c->host_gone = 1;
	c->gone_since = mono_ms();
	uint64_t end = c->gone_since + HOST_GONE_GRACE_MS;
	if (!v->reap_at || end < v->reap_at)
		v->reap_at = end;
}

static void reap_gone(struct vsock_dev *v, uint64_t now)
{
	struct conn *next;
	v->reap_at = 0;
	for (struct conn *c = v->conns; c; c = next) {
		next = c->next;
		if (!c->host_gone)
			continue;
		uint64_t end = c->gone_since + HOST_GONE_GRACE_MS;
		if (now >= end)
			conn_reset(v, c);
		else if (!v->reap_at || end < v->reap_at)
			v->reap_at = end;
	}
}

/* Bytes waiting to be read from fd (1 when it cannot be told). */
static int unread_bytes(int fd)
{
	int n = 0;
	return ioctl(fd, FIONREAD, &n) == 0 ? n : 1;
}

static void read_connect_line(struct vsock_dev *v, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->line + c->line_len, 1); /* byte by byte: no overread */
		if (n < 0 && errno == EAGAIN) {
			c->readable = 0;
			return;
		}
		if (n <= 0) {
			conn_free(v, c);
			return;
		}
		c->line_len++;
		uint32_t port;
		int used = vsock_parse_connect(c->line, c->line_len, &port);
		if (used < 0) {
			log_limited(&v->log[L_BAD_LINE], "hybrid socket: malformed CONNECT line");
			conn_free(v, c);
			return;
		}
		if (used > 0) {
			c->guest_port = port;
			c->host_port = alloc_port(v);
			c->state = C_CONNECTING;
			queue_ctl(v, c, c->host_port, c->guest_port, VSOCK_OP_REQUEST, 0);
			return;
		}
	}
}

/* Writes queued guest bytes to the socket; tells the guest about room. */
static void flush_to_fd(struct vsock_dev *v, struct conn *c)
{
	while (queue_len(&c->to_fd) && c->writable) {
		long n = queue_write_to(&c->to_fd, c->fd);
		if (n < 0 && errno == EAGAIN) {
			c->writable = 0;
		} else if (n < 0) {
			conn_reset(v, c);
			return;
		} else {
			c->fwd_cnt += (uint32_t)n;
		}
	}
	if (c->fwd_cnt - c->fwd_cnt_sent >= CREDIT_UPDATE_EVERY)
		queue_ctl(v, c, c->host_port, c->guest_port, VSOCK_OP_CREDIT_UPDATE, 0);
	if (c->guest_done_sending && queue_len(&c->to_fd) == 0) {
		/* Once: shutdown() wakes the socket's own epoll entry, so doing
		 * it on every event would make the next event, and spin. */
		if (!c->fd_shut)
			shutdown(c->fd, SHUT_WR);
		c->fd_shut = 1;
		if (c->host_eof) /* both directions done */
			conn_reset(v, c);
	}
}

/* Only a socket of this user's, never what a link points at: whatever is
 * at <uds>_<port> gets the guest's bytes. */
static int host_socket(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == geteuid();
}

/* Joins a guest connection to <uds>_<port>. */
static void guest_connect(struct vsock_dev *v, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds, h->dst_port);
	int local = v->local_open && h->dst_port == v->local_port;
	/* Checked before connecting: the host program never sees a connection
	 * that is then dropped. */
	if (conns_full(v)) {
		queue_ctl(v, NULL, h->dst_port, h->src_port, VSOCK_OP_RST, 0);
		return;
	}
	int fd = local ? v->local_open(v->local_ctx)
		       : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (!local && (len >= (int)sizeof(sa.sun_path) || !host_socket(sa.sun_path) ||
				  connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0))) {
		if (fd >= 0)
			close(fd);
		queue_ctl(v, NULL, h->dst_port, h->src_port, VSOCK_OP_RST, 0);
		return;
	}
	struct conn *c = conn_new(v, fd, C_OPEN);
	if (!c) {
		queue_ctl(v, NULL, h->dst_port, h->src_port, VSOCK_OP_RST, 0);
		return;
	}
	c->host_port = h->dst_port;
	c->guest_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	queue_ctl(v, c, c->host_port, c->guest_port, VSOCK_OP_RESPONSE, 0);
}

static void from_guest(struct vsock_dev *v, const struct vsock_hdr *h, const uint8_t *payload)
{
	if (v->debug)
		log_msg("guest %u -> host %u: op %u len %u flags %u buf %u fwd %u", h->src_port,
			h->dst_port, h->op, h->len, h->flags, h->buf_alloc, h->fwd_cnt);
	struct conn *c = find(v, h->dst_port, h->src_port);
	if (h->op == VSOCK_OP_REQUEST) {
		if (c)
			conn_reset(v, c);
		else
			guest_connect(v, h);
		return;
	}
	if (!c) {
		if (h->op != VSOCK_OP_RST)
			queue_ctl(v, NULL, h->dst_port, h->src_port, VSOCK_OP_RST, 0);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state == C_CONNECTING) {
			/* Written directly: the line is not guest data and must not
			 * count in fwd_cnt. A fresh socket always has room for it. */
			char ok[32];
			int n = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);
			if (write(c->fd, ok, (size_t)n) != n) {
				conn_reset(v, c);
				return;
			}
			c->state = C_OPEN;
		}
		break;
	case VSOCK_OP_RW:
		if (c->state != C_OPEN || queue_put(&c->to_fd, payload, h->len) < 0) {
			log_limited(&v->log[L_OVERRUN], "guest port %u overran its credit: reset",
				    h->src_port);
			conn_reset(v, c);
			return;
		}
		flush_to_fd(v, c);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (h->flags & VSOCK_SHUTDOWN_SEND)
			c->guest_done_sending = 1;
		if ((h->flags & (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV)) ==
		    (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV))
			c->host_eof = 1; /* the guest closed: nothing more goes to it */
		flush_to_fd(v, c);
		break;
	case VSOCK_OP_RST:
		conn_free(v, c);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		queue_ctl(v, c, c->host_port, c->guest_port, VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	default:
		break; /* CREDIT_UPDATE: taken above */
	}
}

/* Copies a readable chain into v->pkt; returns its length or -1. */
static long gather(struct vsock_dev *v, const struct chain *ch)
{
	size_t at = 0;
	for (int i = 0; i < ch->nout; i++) {
		if (ch->out[i].iov_len > sizeof(v->pkt) - at)
			return -1;
		memcpy(v->pkt + at, ch->out[i].iov_base, ch->out[i].iov_len);
		at += ch->out[i].iov_len;
	}
	return (long)at;
}

/* Handles the guest's packets, at most TX_BUDGET of them: 1 when it
 * stopped there and more may be waiting. */
static int drain_tx(struct vsock_dev *v)
{
	struct vq *vq = &v->vu->vq[VQ_TX];
	if (!vq_ready(v->vu, VQ_TX))
		return 0;
	for (int budget = TX_BUDGET; budget > 0; budget--) {
		struct chain ch;
		int r = vq_pop(v->vu, vq, &ch);
		if (r == 0)
			return 0;
		v->notify_tx = 1;
		if (r < 0)
			continue;
		long n = gather(v, &ch);
		vq_push(vq, ch.head, 0);
		struct vsock_hdr h;
		if (n < VSOCK_HDR_SIZE) {
			log_limited(&v->log[L_SHORT_PKT],
				    "dropping a packet shorter than its header");
			continue;
		}
		vsock_hdr_get(v->pkt, &h);
		const char *why = vsock_check(&h, v->vu->guest_cid, (size_t)n - VSOCK_HDR_SIZE);
		if (why) {
			log_limited(&v->log[L_BAD_PKT], "dropping a packet from the guest: %s",
				    why);
			if (h.op != VSOCK_OP_RST && h.src_cid == v->vu->guest_cid)
				queue_ctl(v, NULL, h.dst_port, h.src_port, VSOCK_OP_RST, 0);
			continue;
		}
		from_guest(v, &h, v->pkt + VSOCK_HDR_SIZE);
	}
	return 1;
}

/* The next rx chain, while this pass's RX_BUDGET lasts (see vq_pop). */
static int rx_pop(struct vsock_dev *v, struct vq *vq, struct chain *ch)
{
	if (v->rx_budget <= 0)
		return 0;
	int r = vq_pop(v->vu, vq, ch);
	if (r != 0)
		v->rx_budget--;
	return r;
}

/* Gives a chain back unused: it did not count. */
static void rx_unpop(struct vsock_dev *v, struct vq *vq)
{
	vq_unpop(vq);
	v->rx_budget++;
}

/* Writes hdr (+payload already in place) into a writable chain. */
static int put_chain(const struct chain *ch, const uint8_t *buf, size_t len)
{
	size_t at = 0;
	for (int i = 0; i < ch->nin && at < len; i++) {
		size_t n = ch->in[i].iov_len < len - at ? ch->in[i].iov_len : len - at;
		memcpy(ch->in[i].iov_base, buf + at, n);
		at += n;
	}
	return at == len ? 0 : -1;
}

static void fill_hdr(struct vsock_dev *v, struct vsock_hdr *h, struct conn *c, uint32_t host_port,
		     uint32_t guest_port, uint16_t op, uint32_t flags, uint32_t len)
{
	*h = (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID,
				 .dst_cid = v->vu->guest_cid,
				 .src_port = host_port,
				 .dst_port = guest_port,
				 .len = len,
				 .type = VSOCK_TYPE_STREAM,
				 .op = op,
				 .flags = flags };
	if (c) {
		h->buf_alloc = CONN_BUF_ALLOC;
		h->fwd_cnt = c->fwd_cnt;
		c->fwd_cnt_sent = c->fwd_cnt;
	}
}

/* Sends one control packet if an rx buffer is there: 1 sent, 0 no buffer,
 * -1 a malformed chain was dropped (the packet waits for the next one). */
static int send_ctl(struct vsock_dev *v, struct vq *vq)
{
	struct chain ch;
	int r = rx_pop(v, vq, &ch);
	if (r <= 0)
		return r;
	struct ctl *k = &v->ctl[0];
	struct vsock_hdr h;
	fill_hdr(v, &h, k->conn, k->host_port, k->guest_port, k->op, k->flags, 0);
	if (v->debug)
		log_msg("host %u -> guest %u: op %u flags %u", k->host_port, k->guest_port, k->op,
			k->flags);
	vsock_hdr_put(v->pkt, &h);
	if (put_chain(&ch, v->pkt, VSOCK_HDR_SIZE) < 0) {
		vq_push(vq, ch.head, 0);
		log_limited(&v->log[L_SMALL_RX], "rx buffer smaller than a header");
	} else {
		vq_push(vq, ch.head, VSOCK_HDR_SIZE);
	}
	memmove(v->ctl, v->ctl + 1, sizeof(v->ctl[0]) * (v->nctl - 1));
	v->nctl--;
	v->notify_rx = 1;
	return 1;
}

/* Reads from c's socket straight into one rx buffer: 1 sent, 0 nothing
 * to send now, -1 the connection was closed and freed. */
static int send_data(struct vsock_dev *v, struct vq *vq, struct conn *c)
{
	uint32_t credit = vsock_credit(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
	if (credit == 0) {
		/* Once per stall: a Linux guest answers every request, and asking
		 * on every pass would ping-pong with it while its reader sleeps. */
		if (!c->credit_requested)
			queue_ctl(v, c, c->host_port, c->guest_port, VSOCK_OP_CREDIT_REQUEST, 0);
		c->credit_requested = 1;
		return 0;
	}
	c->credit_requested = 0;
	struct chain ch;
	int r = rx_pop(v, vq, &ch);
	if (r <= 0)
		return r < 0; /* a malformed chain was dropped: try the next */
	size_t room = ch.in_len > VSOCK_HDR_SIZE ? ch.in_len - VSOCK_HDR_SIZE : 0;
	if (room > credit)
		room = credit;
	if (room > VSOCK_MAX_PAYLOAD)
		room = VSOCK_MAX_PAYLOAD;
	if (room == 0) {
		rx_unpop(v, vq);
		return 0;
	}
	ssize_t n = read(c->fd, v->pkt + VSOCK_HDR_SIZE, room);
	if (n < 0 && errno == EAGAIN) {
		c->readable = 0;
		rx_unpop(v, vq);
		return 0;
	}
	if (n <= 0) {
		if (v->debug)
			log_msg("host %u fd %d: read %zd (%s)", c->host_port, c->fd, n,
				n < 0 ? strerror(errno) : "EOF");
		rx_unpop(v, vq);
		c->readable = 0;
		c->host_eof = 1;
		/* Both ways done, or nobody left to read what the guest sends. */
		if (c->host_gone || (c->guest_done_sending && queue_len(&c->to_fd) == 0)) {
			conn_reset(v, c);
			return -1;
		}
		if (!c->shutdown_sent) {
			c->shutdown_sent = 1;
			/* Half-close: the host may still read what the guest sends. */
			queue_ctl(v, c, c->host_port, c->guest_port, VSOCK_OP_SHUTDOWN,
				  VSOCK_SHUTDOWN_SEND);
		}
		return 0;
	}
	struct vsock_hdr h;
	fill_hdr(v, &h, c, c->host_port, c->guest_port, VSOCK_OP_RW, 0, (uint32_t)n);
	vsock_hdr_put(v->pkt, &h);
	put_chain(&ch, v->pkt, VSOCK_HDR_SIZE + (size_t)n);
	vq_push(vq, ch.head, VSOCK_HDR_SIZE + (uint32_t)n);
	c->tx_cnt += (uint32_t)n;
	if (c->host_gone)
		c->gone_since = mono_ms(); /* the guest is taking it: more grace */
	if (v->debug)
		log_msg("host %u -> guest %u: RW %zd (chain %zu bytes in %d buffers)", c->host_port,
			c->guest_port, n, ch.in_len, ch.nin);
	v->notify_rx = 1;
	return 1;
}

/* Control packets, then host bytes, into the guest's rx buffers: at most
 * RX_BUDGET of them (v->rx_budget says how many are left). */
static void fill_rx(struct vsock_dev *v)
{
	struct vq *vq = &v->vu->vq[VQ_RX];
	v->rx_budget = RX_BUDGET;
	if (!vq_ready(v->vu, VQ_RX))
		return;
	while (v->nctl > 0)
		if (send_ctl(v, vq) == 0)
			return;
	int progress = 1;
	while (progress) {
		progress = 0;
		struct conn *next;
		for (struct conn *c = v->conns; c; c = next) {
			next = c->next;
			if (c->state != C_OPEN || !c->readable || c->host_eof)
				continue;
			int r = send_data(v, vq, c);
			progress |= r > 0;
			while (v->nctl > 0) /* a SHUTDOWN or CREDIT_REQUEST just queued */
				if (send_ctl(v, vq) == 0)
					return;
		}
	}
}

void vsock_dev_conn_event(struct vsock_dev *v, void *ptr, uint32_t events)
{
	struct conn *c = ptr;
	if (c->dead)
		return;
	if (events & EPOLLOUT)
		c->writable = 1;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->readable = 1;
	if ((events & (EPOLLHUP | EPOLLERR)) && !c->host_gone)
		host_hung_up(v, c);
	switch (c->state) {
	case C_LINE:
		if (c->host_gone)
			conn_free(v, c); /* the guest never heard of it */
		else if (c->readable)
			read_connect_line(v, c);
		return;
	case C_CONNECTING:
		if (c->host_gone)
			conn_reset(v, c); /* the client gave up waiting for the guest */
		return;
	case C_OPEN:
		flush_to_fd(v, c);
		/* Nothing left to forward to the guest: end it now. Otherwise
		 * send_data() ends it at EOF, or reap_gone() after the grace. */
		if (!c->dead && c->host_gone && (c->host_eof || unread_bytes(c->fd) == 0))
			conn_reset(v, c);
		return;
	}
}

int vsock_dev_pump(struct vsock_dev *v)
{
	uint64_t now = mono_ms();
	if (v->reap_at && now >= v->reap_at)
		reap_gone(v, now);
	if (v->listen_paused && now >= v->listen_retry_at)
		listen_resume(v);
	int more = drain_tx(v);
	fill_rx(v);
	more |= v->rx_budget <= 0;
	if (v->notify_rx)
		vq_notify(v->vu, &v->vu->vq[VQ_RX]);
	if (v->notify_tx)
		vq_notify(v->vu, &v->vu->vq[VQ_TX]);
	v->notify_rx = v->notify_tx = 0;
	free_dead(v);
	return more;
}

int vsock_dev_tick(struct vsock_dev *v)
{
	uint64_t now = mono_ms();
	int t = -1;
	if (v->listen_paused)
		t = v->listen_retry_at > now ? (int)(v->listen_retry_at - now) : 0;
	if (v->reap_at)
		t = timeout_min(t, v->reap_at > now ? (int)(v->reap_at - now) : 0);
	for (int i = 0; i < L_COUNT; i++)
		t = timeout_min(t, log_limit_tick(&v->log[i], now));
	return timeout_min(t, vu_dev_log_tick(v->vu, now));
}

void vsock_dev_free(struct vsock_dev *v)
{
	while (v->conns)
		conn_free(v, v->conns);
	free_dead(v);
	free(v);
}

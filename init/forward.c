/* The guest's port forwarder (forward.h): one process, one epoll loop over
 * a timer (the poll of /proc/net/tcp), the announcement connection, the
 * vsock listener and the forwarded connections. */
#include "forward.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/fd.h"
#include "../common/port_list.h"
#include "../common/pump.h"
#include "../common/wire.h"
#include "listen_table.h"
#include "log.h"
#include "supervise.h"
#include "vm_sockets.h"

/* How often the listening sockets are looked at: a new one is forwarded
 * within this, plus the host's turn. */
#define POLL_MS 250
/* Connections forwarded at once; more are closed as they come. */
#define MAX_CONNS 64
/* Per direction and connection: guest memory is small. */
#define CONN_BUF (64 * 1024)
/* How long the host may take to send a connection's header. */
#define HEADER_TIMEOUT_MS 5000
/* The host's listener is there before the guest boots (the host makes it
 * right after starting the VMM): a refusal means forwarding is off. */
/* /proc/net/tcp lists listening sockets first: this many bytes of it hold
 * every listener of any plausible guest. */
#define TCP_TABLE_MAX (128 * 1024)

enum tag { TAG_TIMER, TAG_ANNOUNCE, TAG_LISTEN, TAG_VSOCK, TAG_TCP };
enum conn_state { C_FREE, C_HEADER, C_CONNECTING, C_PUMPING };

struct conn {
	enum conn_state state;
	uint32_t gen; /* events of an earlier user of the slot are ignored */
	int vs, tcp;
	uint8_t hdr[PORT_HDR_SIZE];
	size_t have;
	long long since;
	struct pump pump;
};

struct fwd {
	int epfd, timer, announce, listener;
	uint16_t ports[PORT_LIST_MAX];
	size_t nports;
	char line[PORT_LINE_MAX];
	size_t line_len, line_sent; /* an announcement not yet all written */
	int said_more;
	struct conn conns[MAX_CONNS];
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t ev_data(enum tag tag, size_t slot, uint32_t gen)
{
	return (uint64_t)tag | (uint64_t)slot << 8 | (uint64_t)gen << 32;
}

static int watch(struct fwd *f, int fd, uint32_t events, uint64_t data, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(f->epfd, op, fd, &ev);
}

/* --- the announcement --- */

static int connect_host(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = WIRE_FWD_ANNOUNCE_PORT,
				 .svm_cid = VMADDR_CID_HOST };
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		close_fd(&fd);
	return fd;
}

/* Writes what is left of the announcement; the host reads promptly, so
 * what does not fit waits for the next tick. */
static void flush_announce(struct fwd *f)
{
	while (f->line_sent < f->line_len) {
		ssize_t n = write(f->announce, f->line + f->line_sent, f->line_len - f->line_sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			log_info("forward: the host hung up: no more forwarding");
			_exit(0);
		}
		f->line_sent += (size_t)n;
	}
}

static size_t scan(uint16_t *ports, int *more)
{
	static char text[TCP_TABLE_MAX];
	size_t len = 0;
	int fd = open("/proc/net/tcp", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*more = 0;
		return 0;
	}
	while (len < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return listen_table_parse(text, len, ports, PORT_LIST_MAX, more);
}

static void tick(struct fwd *f)
{
	flush_announce(f);
	if (f->line_sent < f->line_len)
		return; /* the last change first */
	uint16_t ports[PORT_LIST_MAX];
	int more;
	size_t n = scan(ports, &more);
	if (more && !f->said_more)
		log_warn("forward: more than %d listening ports: forwarding the first ones",
			 PORT_LIST_MAX);
	f->said_more |= more;
	if (n == f->nports && !memcmp(ports, f->ports, n * sizeof(ports[0])))
		return;
	memcpy(f->ports, ports, n * sizeof(ports[0]));
	f->nports = n;
	f->line_len = port_list_format(ports, n, f->line, sizeof(f->line));
	f->line_sent = 0;
	flush_announce(f);
}

/* --- forwarded connections --- */

static void conn_free(struct conn *c)
{
	if (c->state == C_PUMPING)
		pump_free(&c->pump); /* closing drops them from the epoll set */
	close_fd(&c->vs);
	close_fd(&c->tcp);
	c->state = C_FREE;
	c->gen++;
}

static void on_accept(struct fwd *f)
{
	struct sockaddr_vm peer;
	socklen_t plen = sizeof(peer);
	int fd = accept4(f->listener, (struct sockaddr *)&peer, &plen,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* Only the host: a guest process has 127.0.0.1 itself. */
	if (peer.svm_cid != VMADDR_CID_HOST) {
		close(fd);
		return;
	}
	for (size_t i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &f->conns[i];
		if (c->state != C_FREE)
			continue;
		if (watch(f, fd, EPOLLIN, ev_data(TAG_VSOCK, i, c->gen), EPOLL_CTL_ADD) < 0)
			break;
		c->state = C_HEADER;
		c->vs = fd;
		c->have = 0;
		c->since = now_ms();
		return;
	}
	close(fd); /* all taken: the host's client sees the end at once */
}

/* Joins the two sockets once the local connection is made. */
static void start_pump(struct fwd *f, size_t i)
{
	struct conn *c = &f->conns[i];
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->tcp, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		conn_free(c); /* nothing listens: the host's client sees the end */
		return;
	}
	uint32_t et = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	if (watch(f, c->tcp, et, ev_data(TAG_TCP, i, c->gen), EPOLL_CTL_MOD) < 0 ||
	    watch(f, c->vs, et, ev_data(TAG_VSOCK, i, c->gen), EPOLL_CTL_ADD) < 0 ||
	    pump_init(&c->pump, c->vs, c->tcp, CONN_BUF) < 0) {
		conn_free(c);
		return;
	}
	c->vs = c->tcp = -1; /* the pump's now */
	c->state = C_PUMPING;
	if (pump_run(&c->pump) != PUMP_MORE)
		conn_free(c);
}

static void read_header(struct fwd *f, size_t i)
{
	struct conn *c = &f->conns[i];
	/* Exactly the header: what follows is the client's. */
	ssize_t n = read(c->vs, c->hdr + c->have, sizeof(c->hdr) - c->have);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->have += (size_t)n;
	if (c->have < sizeof(c->hdr))
		return;
	int port = port_get_header(c->hdr);
	c->tcp = port < 0 ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (c->tcp < 0 ||
	    (connect(c->tcp, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)) {
		conn_free(c);
		return;
	}
	/* The vsock side waits, unwatched, until the local side is up. */
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->vs, NULL);
	if (watch(f, c->tcp, EPOLLOUT, ev_data(TAG_TCP, i, c->gen), EPOLL_CTL_ADD) < 0) {
		conn_free(c);
		return;
	}
	c->state = C_CONNECTING;
}

static void on_conn(struct fwd *f, enum tag tag, size_t i, uint32_t events)
{
	struct conn *c = &f->conns[i];
	switch (c->state) {
	case C_HEADER:
		read_header(f, i);
		break;
	case C_CONNECTING:
		start_pump(f, i);
		break;
	case C_PUMPING:
		pump_event(&c->pump, tag == TAG_VSOCK ? 0 : 1, events);
		if (pump_run(&c->pump) != PUMP_MORE)
			conn_free(c);
		break;
	case C_FREE:
		break;
	}
}

static void expire_headers(struct fwd *f)
{
	long long now = now_ms();
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (f->conns[i].state == C_HEADER && now - f->conns[i].since > HEADER_TIMEOUT_MS)
			conn_free(&f->conns[i]);
}

/* --- the process --- */

static int setup(struct fwd *f)
{
	f->listener = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_port = WIRE_FWD_CONNECT_PORT,
				 .svm_cid = VMADDR_CID_ANY };
	if (f->listener < 0 || bind(f->listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(f->listener, MAX_CONNS) < 0) {
		log_warn("forward: listen on vsock port %d: %s", WIRE_FWD_CONNECT_PORT,
			 strerror(errno));
		return -1;
	}
	struct itimerspec its = { .it_interval = { 0, POLL_MS * 1000000L },
				  .it_value = { 0, POLL_MS * 1000000L } };
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (f->epfd < 0 || f->timer < 0 || timerfd_settime(f->timer, 0, &its, NULL) < 0 ||
	    fcntl(f->announce, F_SETFL, O_NONBLOCK) < 0 ||
	    watch(f, f->timer, EPOLLIN, TAG_TIMER, EPOLL_CTL_ADD) < 0 ||
	    watch(f, f->announce, EPOLLIN, TAG_ANNOUNCE, EPOLL_CTL_ADD) < 0 ||
	    watch(f, f->listener, EPOLLIN, TAG_LISTEN, EPOLL_CTL_ADD) < 0) {
		log_warn("forward: setup: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < MAX_CONNS; i++)
		f->conns[i] = (struct conn){ .state = C_FREE, .vs = -1, .tcp = -1 };
	return 0;
}

/* The host sends nothing on the announcement connection: its end (or an
 * error) means the host stopped forwarding. */
static void on_announce(struct fwd *f)
{
	char buf[256];
	ssize_t n = read(f->announce, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
		log_info("forward: the host hung up: no more forwarding");
		_exit(0);
	}
}

static _Noreturn void forward_main(void)
{
	static struct fwd f;
	f.announce = connect_host();
	if (f.announce < 0)
		_exit(0); /* forwarding is off for this VM */
	if (setup(&f) < 0)
		_exit(1);
	tick(&f);
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(f.epfd, evs, 16, -1);
		if (n < 0 && errno != EINTR) {
			log_warn("forward: epoll_wait: %s", strerror(errno));
			_exit(1);
		}
		for (int k = 0; k < n; k++) {
			uint64_t d = evs[k].data.u64;
			enum tag tag = (enum tag)(d & 0xff);
			size_t slot = (size_t)((d >> 8) & 0xffffff);
			uint32_t gen = (uint32_t)(d >> 32);
			if (tag == TAG_TIMER) {
				uint64_t ticks;
				if (read(f.timer, &ticks, sizeof(ticks)) == sizeof(ticks)) {
					tick(&f);
					expire_headers(&f);
				}
			} else if (tag == TAG_ANNOUNCE) {
				on_announce(&f);
			} else if (tag == TAG_LISTEN) {
				on_accept(&f);
			} else if (slot < MAX_CONNS && f.conns[slot].gen == gen) {
				on_conn(&f, tag, slot, evs[k].events);
			}
		}
	}
}

pid_t forward_start(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("forward: fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	/* Nothing of PID 1's: its signal dispositions and mask, and every fd
	 * but the console on 0-2. */
	signals_reset();
	if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
		_exit(1);
	log_open();
	prctl(PR_SET_NAME, "wisp-forward"); /* for ps, and for the tests */
	signal(SIGPIPE, SIG_IGN);           /* a write to a closed peer is an error, not a death */
	forward_main();
}

/* The keeper of --net user's namespace (net_ns.h). */
#include "net_ns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "msg.h"
#include "userns.h"

/* How long the keeper may take to make its namespaces. */
#define NS_START_MS 10000

struct ns_pending {
	struct ns_request *r; /* NULL: cancelled */
	struct ns_pending *next;
};

/* Its first message: 'r' and the listeners, or 'e' and why it failed. */
#define NS_MSG_MAX 256

/* --- the keeper --- */

static _Noreturn void keeper_fail(int ctl, const char *what)
{
	char msg[NS_MSG_MAX];
	int n = snprintf(msg, sizeof(msg), "e%s: %s", what, strerror(errno));
	if (send(ctl, msg, n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1, MSG_NOSIGNAL) < 0)
		_exit(EXIT_FAILURE);
	_exit(EXIT_FAILURE);
}

/* Not root: a user namespace too (userns.h). */
static void keeper_namespaces(int ctl)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWNET | (uid ? CLONE_NEWUSER : 0)) < 0)
		keeper_fail(ctl, "a network namespace");
	const char *what;
	if (uid && userns_map_self(uid, gid, &what) < 0)
		keeper_fail(ctl, what);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		keeper_fail(ctl, "lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		keeper_fail(ctl, "lo up");
	close(fd);
}

static int send_fds(int ctl, const void *msg, size_t len, const int *fds, size_t nfds)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * OPTIONS_MAX_HOST_PORTS)];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(ctl, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	return a;
}

/* The --host-port listeners, made in the namespace for wisp to accept on. */
static void keeper_listeners(int ctl, const struct run_opts *o)
{
	int fds[OPTIONS_MAX_HOST_PORTS];
	for (size_t i = 0; i < o->nhost_ports; i++) {
		struct sockaddr_in a = loopback(o->host_ports[i]);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(fds[i], 64) < 0) {
			char what[64];
			snprintf(what, sizeof(what), "--host-port %u", o->host_ports[i]);
			keeper_fail(ctl, what);
		}
	}
	if (send_fds(ctl, "r", 1, fds, o->nhost_ports) < 0)
		_exit(EXIT_FAILURE);
	for (size_t i = 0; i < o->nhost_ports; i++)
		close(fds[i]);
}

/* Each request (u8 udp, u16 port) gets an int (0 or errno) and, for 0, the
 * socket. Ends when wisp closes the pair. */
static _Noreturn void keeper_serve(int ctl)
{
	for (;;) {
		uint8_t req[3];
		ssize_t n = recv(ctl, req, sizeof(req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(req))
			_exit(0);
		uint16_t port = (uint16_t)(req[1] | req[2] << 8);
		struct sockaddr_in a = loopback(port);
		int type = req[0] ? SOCK_DGRAM : SOCK_STREAM;
		int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int32_t err = 0;
		if (fd < 0 ||
		    (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS))
			err = errno;
		if (send_fds(ctl, &err, sizeof(err), &fd, err ? 0 : 1) < 0)
			_exit(0);
		if (fd >= 0)
			close(fd);
	}
}

/* --- wisp's side --- */

static void on_answer(struct watch *w, uint32_t events);

static int receive(int ctl, char *msg, size_t size, int *fds, size_t maxfds, size_t *nfds)
{
	struct iovec iov = { .iov_base = msg, .iov_len = size };
	union {
		char buf[CMSG_SPACE(sizeof(int) * OPTIONS_MAX_HOST_PORTS)];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(ctl, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	return (int)n;
}

static int open_ns(pid_t pid, const char *which)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, which);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		msg_warn("--net user: %s: %s", path, strerror(errno));
	return fd;
}

int net_ns_start(struct net_ns *n, struct loop *l, const struct run_opts *o, int *listeners)
{
	int sv[2];
	n->loop = l;
	n->tail = &n->queue;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		msg_warn("socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	n->pid = fork();
	if (n->pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		n->pid = 0;
		close(sv[0]), close(sv[1]);
		return -1;
	}
	if (n->pid == 0) {
		child_prepare(parent, SIGKILL);
		/* It never execs: nothing of wisp's may stay open in it (the
		 * helpers see QEMU go by their fds closing). */
		if (dup2(sv[1], 3) < 0 || close_range(4, ~0U, 0) < 0)
			_exit(EXIT_FAILURE);
		keeper_namespaces(3);
		keeper_listeners(3, o);
		keeper_serve(3);
	}
	close(sv[1]);
	struct pollfd p = { .fd = sv[0], .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, NS_START_MS)) < 0 && errno == EINTR)
		;
	char msg[NS_MSG_MAX];
	size_t nfds = 0;
	int len = r > 0 ? receive(sv[0], msg, sizeof(msg) - 1, listeners, o->nhost_ports, &nfds)
			: -1;
	if (len > 0 && msg[0] == 'r' && nfds == o->nhost_ports) {
		if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0 &&
		    loop_add(l, &n->ctl, sv[0], EPOLLIN, on_answer) == 0) {
			n->netns_fd = open_ns(n->pid, "net");
			if (geteuid())
				n->userns_fd = open_ns(n->pid, "user");
			if (n->netns_fd >= 0 && (!geteuid() || n->userns_fd >= 0))
				return 0;
		} else {
			msg_warn("epoll: %s", strerror(errno));
			close(sv[0]);
		}
		for (size_t i = 0; i < nfds; i++)
			close(listeners[i]);
		return -1;
	}
	for (size_t i = 0; i < nfds; i++)
		close(listeners[i]);
	close(sv[0]);
	if (len > 1 && msg[0] == 'e')
		msg_warn("--net user: %.*s", len - 1, msg + 1);
	else
		msg_warn("--net user: the namespace's keeper %s",
			 r == 0 ? "did not answer in time" : "ended");
	return -1;
}

int net_ns_join(const struct net_ns *n)
{
	if (n->userns_fd >= 0 && setns(n->userns_fd, CLONE_NEWUSER) < 0)
		return -1;
	return setns(n->netns_fd, CLONE_NEWNET);
}

static void answer(struct net_ns *n, int fd, int err)
{
	struct ns_pending *p = n->queue;
	if (!p) {
		/* The keeper answers only what was asked. */
		if (fd >= 0)
			close(fd);
		return;
	}
	n->queue = p->next;
	if (!n->queue)
		n->tail = &n->queue;
	struct ns_request *r = p->r;
	free(p);
	if (!r) {
		if (fd >= 0)
			close(fd);
		return;
	}
	errno = err;
	r->done(r, fd, err);
}

static void on_answer(struct watch *w, uint32_t events)
{
	(void)events;
	struct net_ns *n = container_of(w, struct net_ns, ctl);
	for (;;) {
		int32_t err = 0;
		int fd = -1;
		size_t nfds;
		int len = receive(w->fd, (char *)&err, sizeof(err), &fd, 1, &nfds);
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (len != (int)sizeof(err) || (!err && nfds != 1)) {
			/* The keeper is gone: nothing more can be asked. */
			if (fd >= 0)
				close(fd);
			loop_close(n->loop, w);
			while (n->queue)
				answer(n, -1, ECONNRESET);
			return;
		}
		answer(n, err ? -1 : fd, err);
	}
}

void net_ns_request(struct net_ns *n, struct ns_request *r)
{
	uint8_t req[3] = { r->udp, (uint8_t)(r->port & 0xff), (uint8_t)(r->port >> 8) };
	struct ns_pending *p = malloc(sizeof(*p));
	if (!p || n->ctl.fd < 0 || send(n->ctl.fd, req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
		int err = !p ? ENOMEM : n->ctl.fd < 0 ? ECONNRESET : errno;
		free(p);
		r->done(r, -1, err);
		return;
	}
	p->r = r;
	p->next = NULL;
	*n->tail = p;
	n->tail = &p->next;
}

void net_ns_cancel(struct net_ns *n, const struct ns_request *r)
{
	for (struct ns_pending *p = n->queue; p; p = p->next)
		if (p->r == r)
			p->r = NULL;
}

void net_ns_free(struct net_ns *n)
{
	if (n->loop)
		loop_close(n->loop, &n->ctl);
	while (n->queue) {
		struct ns_pending *p = n->queue;
		n->queue = p->next;
		free(p);
	}
	n->tail = &n->queue;
	close_fd(&n->netns_fd);
	close_fd(&n->userns_fd);
}

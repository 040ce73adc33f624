/* QEMU's slirp in a namespace joined by slirp4netns (net_stack.h). */
#include "net_stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "child.h"
#include "err_text.h"
#include "msg.h"
#include "outcome.h"

/* How long each step of the start may take: the child's namespaces,
 * slirp4netns's readiness, one API answer. */
#define NET_STEP_MS 10000

int net_ports_free(const struct run_opts *o, char *err, size_t errlen)
{
	for (size_t i = 0; i < o->npublish; i++) {
		const struct publish *p = &o->publish[i];
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p->host_port) };
		inet_pton(AF_INET, p->host_ip, &a.sin_addr);
		int fd = socket(AF_INET, (p->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		int saved = errno;
		if (fd >= 0)
			close(fd);
		if (!ok)
			return err_fail(err, errlen, "-p %s:%u/%s: %s", p->host_ip, p->host_port,
					p->udp ? "udp" : "tcp", strerror(saved));
	}
	return 0;
}

int net_stack_prepare(struct net_stack *n)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		msg_warn("socketpair: %s", strerror(errno));
		return -1;
	}
	n->sync_fd = sv[0];
	n->child_fd = sv[1];
	return 0;
}

/* --- in the VMM's child --- */

static _Noreturn void child_fail(const char *what)
{
	dprintf(STDERR_FILENO, "--net user: %s: %s\n", what, strerror(errno));
	_exit(EXIT_LAUNCHER);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The user namespace maps wisp's own ids only: QEMU stays who it was
 * (its files, its shares), it just may configure its network. */
static void map_ids(uid_t uid, gid_t gid)
{
	char line[64];
	if (write_file("/proc/self/setgroups", "deny") < 0)
		child_fail("setgroups");
	snprintf(line, sizeof(line), "%u %u 1", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", line) < 0)
		child_fail("uid_map");
	snprintf(line, sizeof(line), "%u %u 1", (unsigned)gid, (unsigned)gid);
	if (write_file("/proc/self/gid_map", line) < 0)
		child_fail("gid_map");
}

static void loopback_up(void)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		child_fail("lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		child_fail("lo up");
	close(fd);
}

static int listen_loopback(unsigned short port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0)
		child_fail("--host-port listener");
	return fd;
}

void net_stack_enter(const struct run_opts *o, int fd)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWNET | (uid ? CLONE_NEWUSER : 0)) < 0)
		child_fail("a network namespace");
	if (uid)
		map_ids(uid, gid);
	loopback_up();
	/* The --host-port listeners are made here, in the namespace, and
	 * passed to wisp, which relays what they accept to the host. */
	int fds[OPTIONS_MAX_HOST_PORTS];
	for (size_t i = 0; i < o->nhost_ports; i++)
		fds[i] = listen_loopback(o->host_ports[i]);
	char byte = 'n';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (o->nhost_ports) {
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(o->nhost_ports * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(o->nhost_ports * sizeof(int));
		memcpy(CMSG_DATA(c), fds, o->nhost_ports * sizeof(int));
	}
	if (sendmsg(fd, &m, MSG_NOSIGNAL) != 1)
		child_fail("telling wisp");
	for (size_t i = 0; i < o->nhost_ports; i++)
		close(fds[i]);
	/* wisp answers once slirp4netns has configured the namespace; an
	 * end without an answer means it could not (wisp said why). */
	if (read(fd, &byte, 1) != 1)
		_exit(EXIT_LAUNCHER);
	close(fd);
}

/* --- in wisp --- */

static int wait_readable(int fd, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, NET_STEP_MS)) < 0 && errno == EINTR)
		;
	if (r == 0)
		msg_warn("--net user: %s took over %d s", what, NET_STEP_MS / 1000);
	else if (r < 0)
		msg_warn("--net user: poll: %s", strerror(errno));
	return r > 0 ? 0 : -1;
}

/* The child's byte and the --host-port listeners with it. */
static int receive_listeners(struct net_stack *n, const struct run_opts *o, int *fds)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int) * OPTIONS_MAX_HOST_PORTS)];
		struct cmsghdr align;
	} u;
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	if (wait_readable(n->sync_fd, "the VMM's namespaces") < 0)
		return -1;
	ssize_t r = recvmsg(n->sync_fd, &m, MSG_CMSG_CLOEXEC);
	if (r != 1)
		return -1; /* the child said why on its stderr */
	size_t got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && got < OPTIONS_MAX_HOST_PORTS; i++)
			memcpy(&fds[got++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (got != o->nhost_ports) {
		for (size_t i = 0; i < got; i++)
			close(fds[i]);
		msg_warn("--net user: %zu of %zu --host-port listeners arrived", got,
			 o->nhost_ports);
		return -1;
	}
	return 0;
}

/* slirp4netns's stderr: passed on to err_fd (the log, or --verbose's
 * stderr) or dropped, never left to fill a pipe and stall it. */
static void on_slirp_stderr(struct watch *w, uint32_t events)
{
	(void)events;
	struct net_stack *n = container_of(w, struct net_stack, err);
	char buf[4096];
	ssize_t r = read(w->fd, buf, sizeof(buf));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		loop_close(n->loop, w);
		return;
	}
	if (n->err_fd >= 0 && write(n->err_fd, buf, (size_t)r) < 0) {
		/* the log is bounded and may refuse: dropped */
	}
}

/* The last line slirp4netns wrote before it gave up (all writers gone),
 * past its own "child failed(1)" summary. */
static void say_slirp_failure(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	while (len + 1 < sizeof(buf) && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = 0;
	const char *why = "";
	for (char *line = strtok(buf, "\r\n"); line; line = strtok(NULL, "\r\n"))
		if (strncmp(line, "child failed", 12) && strncmp(line, "WARNING", 7))
			why = line;
	msg_warn("--net user: slirp4netns failed%s%s", *why ? ": " : "", why);
}

static int start_slirp(struct net_stack *n, pid_t child)
{
	int ready[2], err[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		msg_warn("pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(err, O_CLOEXEC) < 0) {
		msg_warn("pipe: %s", strerror(errno));
		close(ready[0]), close(ready[1]);
		return -1;
	}
	char *argv[16], buf[1024];
	if (net_slirp_argv(child, geteuid() == 0, 3, n->api, argv, 16, buf, sizeof(buf)) < 0) {
		msg_warn("--net user: %s: path too long", n->api);
		close(ready[0]), close(ready[1]), close(err[0]), close(err[1]);
		return -1;
	}
	pid_t parent = getpid();
	n->pid = fork();
	if (n->pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		n->pid = 0;
		close(ready[0]), close(ready[1]), close(err[0]), close(err[1]);
		return -1;
	}
	if (n->pid == 0) {
		child_prepare(parent, SIGTERM);
		if (dup2(ready[1], 3) < 0 || dup2(err[1], STDERR_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "cannot run slirp4netns: %s\n", strerror(errno));
		_exit(127);
	}
	close(ready[1]);
	close(err[1]);
	char byte;
	int ok = wait_readable(ready[0], "slirp4netns") == 0 && read(ready[0], &byte, 1) == 1;
	close(ready[0]);
	if (!ok) {
		/* It ends once its ready fd is closed unwritten: its message is
		 * whole when the pipe ends. */
		kill(n->pid, SIGTERM);
		say_slirp_failure(err[0]);
		close(err[0]);
		return -1;
	}
	if (fcntl(err[0], F_SETFL, O_NONBLOCK) < 0 ||
	    loop_add(n->loop, &n->err, err[0], EPOLLIN, on_slirp_stderr) < 0) {
		msg_warn("--net user: epoll: %s", strerror(errno));
		close(err[0]);
		return -1;
	}
	return 0;
}

/* One request on slirp4netns's API: it answers {"return": ...} or
 * {"error": {"desc": "..."}} and hangs up. */
static int api_call(const char *path, const char *req, char *answer, size_t size)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(answer, size, "%s: path too long", path);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req) || shutdown(fd, SHUT_WR) < 0) {
		snprintf(answer, size, "slirp4netns's API: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t len = 0;
	while (len + 1 < size) {
		if (wait_readable(fd, "slirp4netns's answer") < 0)
			break;
		ssize_t r = read(fd, answer + len, size - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	answer[len] = 0;
	close(fd);
	return strstr(answer, "\"return\"") ? 0 : -1;
}

/* "Address already in use" out of {"error": {"desc": "...: ..."}}. */
static const char *api_error(char *answer)
{
	char *d = strstr(answer, "\"desc\"");
	char *q = d ? strchr(d + 6, '"') : NULL;
	if (!q)
		return answer;
	char *end = strchr(q + 1, '"');
	if (end)
		*end = 0;
	char *colon = strrchr(q + 1, ':');
	return colon && colon[1] == ' ' ? colon + 2 : q + 1;
}

static int add_forwards(struct net_stack *n, const struct run_opts *o)
{
	for (size_t i = 0; i < o->npublish; i++) {
		const struct publish *p = &o->publish[i];
		char req[512], answer[1024];
		if (net_hostfwd_request(p, req, sizeof(req)) < 0 ||
		    api_call(n->api, req, answer, sizeof(answer)) < 0) {
			msg_warn("-p %s:%u/%s: %s", p->host_ip, p->host_port,
				 p->udp ? "udp" : "tcp", api_error(answer));
			return -1;
		}
	}
	return 0;
}

int net_stack_attach(struct net_stack *n, struct loop *l, const struct run_opts *o, pid_t child,
		     const char *dir, int err_fd)
{
	int fds[OPTIONS_MAX_HOST_PORTS];
	close_fd(&n->child_fd);
	n->loop = l;
	n->err_fd = err_fd;
	if ((size_t)snprintf(n->api, sizeof(n->api), "%s/net.sock", dir) >= sizeof(n->api)) {
		msg_warn("--net user: %s: path too long", dir);
		return -1;
	}
	if (receive_listeners(n, o, fds) < 0)
		return -1;
	if (host_ports_start(&n->ports, l, fds, o->host_ports, o->nhost_ports) < 0 ||
	    start_slirp(n, child) < 0 || add_forwards(n, o) < 0)
		return -1;
	if (write(n->sync_fd, "g", 1) != 1) {
		msg_warn("--net user: the VMM's child: %s", strerror(errno));
		return -1;
	}
	close_fd(&n->sync_fd);
	return 0;
}

void net_stack_free(struct net_stack *n, struct loop *l)
{
	close_fd(&n->sync_fd);
	close_fd(&n->child_fd);
	host_ports_free(&n->ports, l);
	if (n->loop)
		loop_close(l, &n->err);
	if (n->api[0])
		unlink(n->api);
}

/* QEMU's slirp in a namespace joined by slirp4netns (net_stack.h). */
#include "net_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "child.h"
#include "msg.h"
#include "outcome.h"

/* How long slirp4netns may take to configure the namespace. */
#define NET_STEP_MS 10000

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
	if (net_slirp_argv(child, geteuid() == 0, 3, argv, 16, buf, sizeof(buf)) < 0) {
		msg_warn("--net user: slirp4netns's arguments do not fit");
		close(ready[0]), close(ready[1]), close(err[0]), close(err[1]);
		return -1;
	}
	pid_t parent = getpid();
	n->slirp = fork();
	if (n->slirp < 0) {
		msg_warn("fork: %s", strerror(errno));
		n->slirp = 0;
		close(ready[0]), close(ready[1]), close(err[0]), close(err[1]);
		return -1;
	}
	if (n->slirp == 0) {
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
		kill(n->slirp, SIGTERM);
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

int net_stack_start(struct net_stack *n, struct loop *l, const struct run_opts *o, int err_fd)
{
	n->loop = l;
	n->err_fd = err_fd;
	char err[300];
	int listeners[OPTIONS_MAX_HOST_PORTS];
	/* The host's ports first: one in use fails before anything starts. */
	if (net_publish_bind(&n->publish, o, err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return -1;
	}
	if (net_ns_start(&n->ns, l, o, listeners) < 0)
		return -1;
	if (host_ports_start(&n->ports, l, listeners, o->host_ports, o->nhost_ports) < 0 ||
	    start_slirp(n, n->ns.pid) < 0 || net_publish_start(&n->publish, l, &n->ns) < 0)
		return -1;
	return 0;
}

void net_stack_join(const struct net_stack *n)
{
	if (net_ns_join(&n->ns) < 0) {
		dprintf(STDERR_FILENO, "--net user: cannot join the namespace: %s\n",
			strerror(errno));
		_exit(EXIT_LAUNCHER);
	}
}

void net_stack_init(struct net_stack *n)
{
	memset(n, 0, sizeof(*n));
	n->ns.ctl.fd = n->ns.netns_fd = n->ns.userns_fd = -1;
	n->err.fd = n->err_fd = -1;
	net_publish_init(&n->publish);
	host_ports_init(&n->ports);
}

void net_stack_free(struct net_stack *n)
{
	net_publish_free(&n->publish);
	if (n->loop) {
		host_ports_free(&n->ports, n->loop);
		loop_close(n->loop, &n->err);
	}
	net_ns_free(&n->ns);
}

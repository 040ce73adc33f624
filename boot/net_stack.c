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

/* slirp4netns's stderr: passed on to err_fd (the log, or --verbose's
 * stderr) or dropped, never left to fill a pipe and stall it. */
/* The end of what slirp4netns said, for the line that says why it failed. */
static void keep_tail(struct net_stack *n, const char *buf, size_t len)
{
	if (len >= sizeof(n->tail)) {
		buf += len - (sizeof(n->tail) - 1);
		len = sizeof(n->tail) - 1;
	}
	size_t keep = n->tail_len + len < sizeof(n->tail) ? n->tail_len : sizeof(n->tail) - 1 - len;
	memmove(n->tail, n->tail + n->tail_len - keep, keep);
	memcpy(n->tail + keep, buf, len);
	n->tail_len = keep + len;
	n->tail[n->tail_len] = 0;
}

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
	keep_tail(n, buf, (size_t)r);
}

/* Why slirp4netns gave up: the last line it wrote before its ready fd
 * ended unwritten (it then exits, so the pipe ends too), past its own
 * "child failed(1)" summary. */
static void slirp_failure(struct net_stack *n, char *why, size_t size)
{
	char buf[1024];
	int fd = loop_del(n->loop, &n->err);
	/* What it wrote before its ready fd ended is in the pipe already:
	 * read that, never wait for more (this runs in the loop). */
	for (int i = 0; fd >= 0 && i < 64; i++) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		keep_tail(n, buf, (size_t)r);
	}
	close_fd(&fd);
	const char *last = "";
	for (char *line = strtok(n->tail, "\r\n"); line; line = strtok(NULL, "\r\n"))
		if (strncmp(line, "child failed", 12) && strncmp(line, "WARNING", 7))
			last = line;
	snprintf(why, size, "--net user: slirp4netns failed%s%s", *last ? ": " : "", last);
}

/* The ready fd: one byte once the namespace is configured, or its end. */
static int slirp_answer(struct net_stack *n, char *why, size_t size)
{
	char byte;
	ssize_t r = read(n->ready.fd, &byte, 1);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	loop_close(n->loop, &n->ready);
	if (r == 1) {
		n->up = 1;
		return 1;
	}
	if (n->slirp > 0)
		kill(n->slirp, SIGKILL); /* not yet reaped (vm_reap() clears it) */
	slirp_failure(n, why, size);
	return -1;
}

static void on_slirp_ready(struct watch *w, uint32_t events)
{
	(void)events;
	struct net_stack *n = container_of(w, struct net_stack, ready);
	char why[512];
	int r = slirp_answer(n, why, sizeof(why));
	if (r != 0 && n->on_up)
		n->on_up(n, r > 0 ? NULL : why);
}

int net_stack_wait_up(struct net_stack *n)
{
	char why[512];
	while (n->ready.fd >= 0) {
		struct pollfd p = { .fd = n->ready.fd, .events = POLLIN };
		int r = poll(&p, 1, NET_STEP_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			msg_warn("--net user: poll: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			msg_warn("--net user: slirp4netns took over %d s", NET_STEP_MS / 1000);
			return -1;
		}
		if (slirp_answer(n, why, sizeof(why)) < 0) {
			msg_warn("%s", why);
			return -1;
		}
	}
	return n->up ? 0 : -1;
}

/* slirp4netns for the keeper's namespace; its readiness comes through the
 * loop (net_stack_wait_up() for whoever cannot wait). */
static int start_slirp(struct net_stack *n, pid_t child)
{
	int ready[2], err[2];
	if (pipe2(ready, O_CLOEXEC | O_NONBLOCK) < 0) {
		msg_warn("pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0) {
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
		/* Its own pipes block, as a program expects. */
		if (dup2(ready[1], 3) < 0 || dup2(err[1], STDERR_FILENO) < 0 ||
		    fcntl(3, F_SETFL, 0) < 0 || fcntl(STDERR_FILENO, F_SETFL, 0) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "cannot run slirp4netns: %s\n", strerror(errno));
		_exit(127);
	}
	close(ready[1]);
	close(err[1]);
	if (loop_add(n->loop, &n->err, err[0], EPOLLIN, on_slirp_stderr) < 0) {
		close(err[0]);
		close(ready[0]);
		msg_warn("--net user: epoll: %s", strerror(errno));
		return -1;
	}
	if (loop_add(n->loop, &n->ready, ready[0], EPOLLIN, on_slirp_ready) < 0) {
		close(ready[0]);
		msg_warn("--net user: epoll: %s", strerror(errno));
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
	n->err.fd = n->err_fd = n->ready.fd = -1;
	net_publish_init(&n->publish);
	host_ports_init(&n->ports);
}

void net_stack_free(struct net_stack *n)
{
	net_publish_free(&n->publish);
	if (n->loop) {
		host_ports_free(&n->ports, n->loop);
		loop_close(n->loop, &n->err);
		loop_close(n->loop, &n->ready);
	}
	net_ns_free(&n->ns);
}

/* Dialling a guest port through a hybrid vsock socket, as a loop step. */
#include "hybrid.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/unix_sock.h"

/* A listener whose backlog is full is tried again this often. */
#define DIAL_RETRY_MS 10

static void finish(struct dial *d, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Ends the dial: hands the fd over, or closes it and reports why. */
static void finish(struct dial *d, int ok, const char *fmt, ...)
{
	char err[DIAL_ERR_MAX] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, sizeof(err), fmt, ap);
		va_end(ap);
	}
	loop_del(d->loop, &d->w);
	int fd = d->fd;
	d->fd = -1;
	timer_free(d->loop, &d->timer);
	if (!ok)
		close_fd(&fd);
	d->done(d, fd, err);
}

static void on_answer(struct watch *w, uint32_t events)
{
	(void)events;
	struct dial *d = container_of(w, struct dial, w);
	/* Byte by byte: what follows the line is the guest's. */
	for (;;) {
		ssize_t r = read(d->fd, d->answer + d->len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			finish(d, 0, "guest port %u refused the connection", d->port);
			return;
		}
		if (d->answer[d->len] == '\n')
			break;
		if (++d->len == sizeof(d->answer) - 1) {
			finish(d, 0, "a malformed answer on %s", d->path);
			return;
		}
	}
	d->answer[d->len] = '\0';
	if (strncmp(d->answer, "OK ", 3))
		finish(d, 0, "guest port %u: unexpected answer '%s'", d->port, d->answer);
	else
		finish(d, 1, NULL);
}

/* Connects and writes CONNECT; a full backlog is tried again on the timer. */
static void try_connect(struct dial *d)
{
	struct sockaddr_un a;
	if (unix_addr(d->path, &a) < 0) {
		finish(d, 0, "socket path too long: %s", d->path);
		return;
	}
	if (connect(d->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno == EAGAIN && clock_us() / 1000 < d->deadline_ms) {
			timer_arm_ms(&d->timer, DIAL_RETRY_MS);
			return;
		}
		finish(d, 0, "%s: %s", d->path, strerror(errno));
		return;
	}
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", d->port);
	/* A fresh socket's buffer takes a line whole. */
	if (write(d->fd, line, (size_t)n) != n ||
	    loop_add(d->loop, &d->w, d->fd, EPOLLIN, on_answer) < 0) {
		finish(d, 0, "%s: %s", d->path, strerror(errno));
		return;
	}
	d->connected = 1;
	timer_arm_ms(&d->timer, d->deadline_ms - clock_us() / 1000);
}

static void on_timer(struct timer *t)
{
	struct dial *d = container_of(t, struct dial, timer);
	if (!d->connected && clock_us() / 1000 < d->deadline_ms)
		try_connect(d);
	else
		finish(d, 0, "no answer from guest port %u within %d ms", d->port, d->timeout_ms);
}

int dial_start(struct dial *d, struct loop *l, const char *path, unsigned port, int timeout_ms,
	       void (*done)(struct dial *, int, const char *))
{
	memset(d, 0, sizeof(*d));
	d->loop = l;
	d->done = done;
	d->port = port;
	d->timeout_ms = timeout_ms;
	d->deadline_ms = clock_us() / 1000 + timeout_ms;
	d->w.fd = d->timer.w.fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->fd < 0)
		return -1;
	if (timer_init(l, &d->timer, on_timer) < 0) {
		int saved = errno;
		dial_cancel(d);
		errno = saved;
		return -1;
	}
	/* The first try from the loop too: done() never runs inside this call. */
	timer_arm_ms(&d->timer, 0);
	return 0;
}

int dial_active(const struct dial *d)
{
	return d->loop && d->fd >= 0;
}

void dial_cancel(struct dial *d)
{
	if (!d->loop)
		return;
	loop_del(d->loop, &d->w);
	close_fd(&d->fd);
	timer_free(d->loop, &d->timer);
}

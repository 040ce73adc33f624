/* The command's output on the host, never blocking the loop (sink.h). */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t write_some(struct sink *s, const void *p, size_t n)
{
	ssize_t w;
	do
		w = s->mode == SINK_SOCKET ? send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
					   : write(s->fd, p, n);
	while (w < 0 && errno == EINTR);
	return w;
}

static void arm(struct sink *s)
{
	if (s->w.fd >= 0)
		loop_set_events(s->loop, &s->w, queue_len(&s->q) ? EPOLLOUT : 0);
}

static void lost_reader(struct sink *s)
{
	s->gone = 1;
	queue_consume(&s->q, queue_len(&s->q));
	loop_del(s->loop, &s->w); /* an error stays reported: never watch it again */
}

/* Writes the head of the queue; returns 0, or -1 once the reader is gone. */
static int flush(struct sink *s)
{
	while (queue_len(&s->q)) {
		ssize_t w = write_some(s, queue_head(&s->q), queue_len(&s->q));
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0) {
			lost_reader(s);
			return -1;
		}
		queue_consume(&s->q, (size_t)w);
	}
	return 0;
}

static void on_writable(struct watch *w, uint32_t events)
{
	struct sink *s = container_of(w, struct sink, w);
	if (flush(s) < 0 || (events & EPOLLERR)) {
		if (!s->gone)
			lost_reader(s);
	} else {
		arm(s);
	}
	if (s->room)
		s->room(s, s->ctx);
}

/* A file of wisp's own on what fd is, non-blocking; -1 where there is none. */
static int reopen_nonblocking(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

int sink_open(struct sink *s, struct loop *l, int fd, void (*room)(struct sink *, void *),
	      void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->room = room;
	s->ctx = ctx;
	s->w.fd = -1;
	s->fd = fd;
	s->mode = SINK_DIRECT;
	if (queue_init(&s->q, SINK_CAP) < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return 0;
	int own = S_ISSOCK(st.st_mode) ? fd : reopen_nonblocking(fd);
	if (own < 0)
		return 0;
	/* Not pollable (/dev/null and the like): written directly. */
	if (loop_add(l, &s->w, own, 0, on_writable) < 0) {
		if (own != fd)
			close(own);
		return 0;
	}
	s->fd = own;
	s->mode = S_ISSOCK(st.st_mode) ? SINK_SOCKET : SINK_FILE;
	return 0;
}

size_t sink_room(const struct sink *s)
{
	if (s->mode == SINK_DIRECT || s->gone)
		return SIZE_MAX;
	return s->q.cap - queue_len(&s->q);
}

void sink_put(struct sink *s, const void *p, size_t n)
{
	if (s->gone || !n)
		return;
	if (s->mode == SINK_DIRECT) {
		for (const uint8_t *b = p; n > 0;) {
			ssize_t w = write_some(s, b, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				s->gone = 1; /* EPIPE: keep the VM going, drop the rest */
				return;
			}
			b += w;
			n -= (size_t)w;
		}
		return;
	}
	if (queue_put(&s->q, p, n) < 0)
		return; /* the caller checked sink_room(): not reached */
	flush(s);
	arm(s);
}

size_t sink_pending(const struct sink *s)
{
	return s->gone ? 0 : queue_len(&s->q);
}

void sink_abandon(struct sink *s)
{
	queue_consume(&s->q, queue_len(&s->q));
	arm(s);
}

void sink_close(struct sink *s)
{
	if (s->loop)
		loop_del(s->loop, &s->w);
	if (s->mode == SINK_FILE)
		close_fd(&s->fd);
	s->mode = SINK_DIRECT;
	s->loop = NULL;
	queue_free(&s->q);
}

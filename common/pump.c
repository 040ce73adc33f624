/* Joining two sockets both ways (pump.h). */
#include "pump.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd.h"

int pump_init(struct pump *p, int a, int b, size_t bufsize)
{
	*p = (struct pump){ .side = { { a, 1, 1 }, { b, 1, 1 } } };
	for (int i = 0; i < 2; i++) {
		p->dir[i].size = bufsize;
		p->dir[i].buf = malloc(bufsize);
	}
	if (!p->dir[0].buf || !p->dir[1].buf) {
		free(p->dir[0].buf);
		free(p->dir[1].buf);
		*p = (struct pump){ .side = { { -1, 0, 0 }, { -1, 0, 0 } } };
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void pump_event(struct pump *p, int i, uint32_t events)
{
	/* A hang-up or an error is seen by the next read or write. */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		p->side[i].readable = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		p->side[i].writable = 1;
}

/* Reads into the ring's free space: 1 moved bytes, 0 nothing to do, -1 failed. */
static int fill(struct pump_dir *d, struct pump_side *src)
{
	if (d->eof || d->len == d->size || !src->readable)
		return 0;
	size_t tail = (d->head + d->len) % d->size;
	size_t room = tail >= d->head ? d->size - tail : d->head - tail;
	if (room > d->size - d->len)
		room = d->size - d->len;
	ssize_t n = read(src->fd, d->buf + tail, room);
	if (n > 0) {
		d->len += (size_t)n;
		return 1;
	}
	if (n == 0) {
		d->eof = 1;
		return 1;
	}
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		src->readable = 0;
		return 0;
	}
	return -1;
}

/* Writes what the ring holds; at its end, passes the end of stream on. */
static int drain(struct pump_dir *d, struct pump_side *dst, unsigned long long *moved)
{
	if (d->len == 0) {
		if (d->eof && !d->shut) {
			d->shut = 1;
			/* ENOTCONN: the peer is gone, which the other way will see. */
			if (shutdown(dst->fd, SHUT_WR) < 0 && errno != ENOTCONN)
				return -1;
			return 1;
		}
		return 0;
	}
	if (!dst->writable)
		return 0;
	size_t chunk = d->size - d->head < d->len ? d->size - d->head : d->len;
	ssize_t n = write(dst->fd, d->buf + d->head, chunk);
	if (n > 0) {
		d->head = (d->head + (size_t)n) % d->size;
		d->len -= (size_t)n;
		*moved += (unsigned long long)n;
		if (d->len == 0)
			d->head = 0; /* whole reads again */
		return 1;
	}
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		dst->writable = 0;
		return 0;
	}
	return -1;
}

enum pump_state pump_run(struct pump *p)
{
	/* Until nothing moves: a write that frees room lets a read go on.
	 * Each turn moves bytes or meets EAGAIN, so it ends. */
	for (int busy = 1; busy;) {
		busy = 0;
		for (int i = 0; i < 2; i++) {
			int r = fill(&p->dir[i], &p->side[i]);
			int w = r < 0 ? 0 : drain(&p->dir[i], &p->side[1 - i], &p->moved[i]);
			if (r < 0 || w < 0)
				return PUMP_FAILED;
			busy |= r | w;
		}
	}
	return p->dir[0].shut && p->dir[1].shut ? PUMP_DONE : PUMP_MORE;
}

void pump_free(struct pump *p)
{
	for (int i = 0; i < 2; i++) {
		free(p->dir[i].buf);
		p->dir[i].buf = NULL;
		close_fd(&p->side[i].fd);
	}
}

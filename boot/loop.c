/* The event loop: epoll watches and timerfd timers (loop.h). */
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

#define LOOP_BATCH 16

long long clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int loop_init(struct loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -1 : 0;
}

void loop_free(struct loop *l)
{
	close_fd(&l->epfd);
}

int loop_add(struct loop *l, struct watch *w, int fd, uint32_t events,
	     void (*fn)(struct watch *, uint32_t))
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	w->fn = fn;
	w->fd = -1;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	w->fd = fd;
	return 0;
}

void loop_set_events(struct loop *l, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (w->fd >= 0 && epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		msg_warn("epoll_ctl: %s", strerror(errno));
}

int loop_del(struct loop *l, struct watch *w)
{
	int fd = w->fd;
	if (fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1;
	return fd;
}

void loop_close(struct loop *l, struct watch *w)
{
	int fd = loop_del(l, w);
	close_fd(&fd);
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int n = epoll_wait(l->epfd, ev, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct watch *w = ev[i].data.ptr;
		/* An owner may close another's watch on the way: skip it. */
		if (w->fd >= 0)
			w->fn(w, ev[i].events);
	}
	return n;
}

static void on_timerfd(struct watch *w, uint32_t events)
{
	(void)events;
	struct timer *t = container_of(w, struct timer, w);
	uint64_t ticks;
	if (read(w->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return; /* re-armed or stopped since it fired */
	t->fn(t);
}

int timer_init(struct loop *l, struct timer *t, void (*fn)(struct timer *))
{
	t->fn = fn;
	t->w.fd = -1;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -1;
	if (loop_add(l, &t->w, fd, EPOLLIN, on_timerfd) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

void timer_arm_ms(struct timer *t, long long ms)
{
	if (ms <= 0)
		ms = 0;
	struct itimerspec its = { .it_value = { (time_t)(ms / 1000),
						(long)(ms % 1000) * 1000000L } };
	if (ms == 0)
		its.it_value.tv_nsec = 1; /* all zero would disarm it */
	if (timerfd_settime(t->w.fd, 0, &its, NULL) < 0)
		msg_warn("timerfd_settime: %s", strerror(errno));
}

void timer_stop(struct timer *t)
{
	struct itimerspec off = { 0 };
	if (t->w.fd >= 0)
		timerfd_settime(t->w.fd, 0, &off, NULL);
}

void timer_free(struct loop *l, struct timer *t)
{
	loop_close(l, &t->w);
}

/* A relay of bytes between two sockets in the event loop (splice.h). */
#include "splice.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

/* Edge-triggered: the pump remembers what each side can do, so the
 * interest never changes (no epoll_ctl per buffer state) and a side that
 * hung up is reported once, not at every turn. */
#define SPLICE_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

static void finish(struct splice *s, int failed)
{
	loop_del(s->loop, &s->w[0]);
	loop_del(s->loop, &s->w[1]);
	pump_free(&s->pump);
	s->failed = failed;
	s->loop = NULL;
	s->done(s);
}

static void run(struct splice *s)
{
	enum pump_state st = pump_run(&s->pump);
	if (st != PUMP_MORE)
		finish(s, st == PUMP_FAILED);
}

static void on_side(struct splice *s, int i, uint32_t events)
{
	pump_event(&s->pump, i, events);
	run(s);
}

static void on_a(struct watch *w, uint32_t events)
{
	on_side(container_of(w, struct splice, w[0]), 0, events);
}

static void on_b(struct watch *w, uint32_t events)
{
	on_side(container_of(w, struct splice, w[1]), 1, events);
}

int splice_start(struct splice *s, struct loop *l, int a, int b, size_t bufsize,
		 void (*done)(struct splice *s))
{
	memset(s, 0, sizeof(*s));
	s->w[0].fd = s->w[1].fd = -1;
	s->done = done;
	if (pump_init(&s->pump, a, b, bufsize) < 0) {
		close_fd(&a);
		close_fd(&b);
		return -1;
	}
	/* Both sides start out "ready": the first events run the pump, and
	 * a new edge-triggered registration reports what is ready already. */
	if (loop_add(l, &s->w[0], a, SPLICE_EVENTS, on_a) < 0 ||
	    loop_add(l, &s->w[1], b, SPLICE_EVENTS, on_b) < 0) {
		int saved = errno;
		loop_del(l, &s->w[0]);
		pump_free(&s->pump);
		errno = saved;
		return -1;
	}
	s->loop = l;
	return 0;
}

int splice_active(const struct splice *s)
{
	return s->loop != NULL;
}

void splice_stop(struct splice *s)
{
	if (!s->loop)
		return;
	loop_del(s->loop, &s->w[0]);
	loop_del(s->loop, &s->w[1]);
	pump_free(&s->pump);
	s->loop = NULL;
}

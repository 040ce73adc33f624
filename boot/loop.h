/* The launcher's one event loop: epoll over watches, each an fd and the
 * function of the unit that owns it, and timers (timerfds) as watches too.
 * Units embed their watches and timers and find themselves again with
 * container_of(); nothing in the loop knows what a VM or a relay is. */
#ifndef WISP_LOOP_H
#define WISP_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/fd.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct loop {
	int epfd;
};

struct watch {
	int fd; /* -1: not watched */
	void (*fn)(struct watch *w, uint32_t events);
};

struct timer {
	struct watch w;
	void (*fn)(struct timer *t);
};

/* CLOCK_MONOTONIC in microseconds: the clock of every deadline in wisp. */
long long clock_us(void);

int loop_init(struct loop *l);
void loop_free(struct loop *l);
/* Watches fd for events with fn; -1 with errno (EPERM: a regular file). */
int loop_add(struct loop *l, struct watch *w, int fd, uint32_t events,
	     void (*fn)(struct watch *, uint32_t));
void loop_set_events(struct loop *l, struct watch *w, uint32_t events);
/* Stops watching; the fd stays open and is returned. */
int loop_del(struct loop *l, struct watch *w);
/* Stops watching and closes the fd. */
void loop_close(struct loop *l, struct watch *w);
/* Waits up to timeout_ms (-1: no limit) and calls the owner of every
 * ready watch. Returns how many were ready, or -1. */
int loop_run_once(struct loop *l, int timeout_ms);

int timer_init(struct loop *l, struct timer *t, void (*fn)(struct timer *));
/* (Re)arms the timer to fire once, ms from now (0: at the next turn). */
void timer_arm_ms(struct timer *t, long long ms);
void timer_stop(struct timer *t);
void timer_free(struct loop *l, struct timer *t);

#endif

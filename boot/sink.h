/* Where the command's output goes on the host: wisp's stdout or stderr,
 * written without ever blocking the event loop. A pipe or a terminal is
 * reopened through /proc/self/fd as a non-blocking file of wisp's own (the
 * one wisp shares with its parent stays as it is), a socket is written
 * with MSG_DONTWAIT; both queue what they cannot take yet, up to a bound,
 * and say when there is room again. A regular file (or anything else that
 * cannot be polled) is written directly: it never waits for a reader. */
#ifndef WISP_SINK_H
#define WISP_SINK_H

#include <stddef.h>

#include "../common/queue.h"
#include "loop.h"

#define SINK_CAP (256 * 1024)

enum sink_mode { SINK_DIRECT, SINK_FILE, SINK_SOCKET };

struct sink {
	struct loop *loop;
	struct watch w;
	enum sink_mode mode;
	int fd;   /* the fd written (a reopened one for SINK_FILE) */
	int gone; /* the reader went away (EPIPE): the rest is dropped */
	struct queue q;
	void (*room)(struct sink *s, void *ctx); /* there is room again */
	void *ctx;
};

/* Sets s up to write fd. -1 only when out of memory. */
int sink_open(struct sink *s, struct loop *l, int fd, void (*room)(struct sink *, void *),
	      void *ctx);
/* How many bytes sink_put() takes now without dropping any. */
size_t sink_room(const struct sink *s);
/* Writes or queues p[0..n); what does not fit the queue is dropped. */
void sink_put(struct sink *s, const void *p, size_t n);
/* Bytes still to be written. */
size_t sink_pending(const struct sink *s);
/* Gives up what is queued (the user has stopped waiting for it). */
void sink_abandon(struct sink *s);
void sink_close(struct sink *s);

#endif

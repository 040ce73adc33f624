/* Two non-blocking sockets joined both ways in the launcher's event loop
 * (common/pump.h does the moving): a bounded buffer per direction, a side
 * whose buffer is full is not read, an end of stream passes on as a
 * shutdown(SHUT_WR), and at the end both fds are closed and done() runs.
 * Any relay of bytes between two sockets uses it: forwarded ports, host
 * ports the guest reaches. */
#ifndef WISP_SPLICE_H
#define WISP_SPLICE_H

#include "../common/pump.h"
#include "loop.h"

/* Per direction: enough to keep a vsock stream busy. */
#define SPLICE_BUF_DEFAULT (256 * 1024)

struct splice {
	struct loop *loop;
	struct watch w[2];
	struct pump pump;
	int failed; /* at the end: an error (reset, broken pipe), not two ends of stream */
	void (*done)(struct splice *s);
};

/* Joins a and b (owned from now on, also on failure). done() runs from the
 * loop, never from here, once both are closed; the struct may be reused
 * then, but must stay allocated until the loop's turn ends (events already
 * fetched may still name its watches, which are closed and skipped).
 * -1 with errno when it cannot start (both fds closed). */
int splice_start(struct splice *s, struct loop *l, int a, int b, size_t bufsize,
		 void (*done)(struct splice *s));
/* Whether it runs (started, not yet done or stopped). */
int splice_active(const struct splice *s);
/* Ends it now: both fds closed, done() not called. Safe to call twice. */
void splice_stop(struct splice *s);

#endif

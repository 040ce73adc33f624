/* Two non-blocking stream sockets joined both ways through one bounded
 * buffer per direction: what one side sends the other receives, an end of
 * stream on one side becomes a shutdown(SHUT_WR) of the other (half-close
 * passes through), and an error on either side ends both. No event loop
 * here: the owner tells which side an epoll event (edge-triggered) named,
 * then runs the pump, which does every read and write that cannot block.
 * Shared by the host's relays (boot/splice.c) and the guest's forwarder. */
#ifndef WISP_PUMP_H
#define WISP_PUMP_H

#include <stddef.h>
#include <stdint.h>

struct pump_side {
	int fd;
	int readable, writable; /* not yet seen EAGAIN since the last event */
};

/* The bytes on their way from side[i] to side[1 - i]: a ring. */
struct pump_dir {
	char *buf;
	size_t size, head, len;
	int eof;  /* the source said end of stream */
	int shut; /* and the destination was shut down for writing */
};

struct pump {
	struct pump_side side[2];
	struct pump_dir dir[2]; /* dir[i]: side[i] -> side[1 - i] */
	unsigned long long moved[2];
};

enum pump_state {
	PUMP_MORE,   /* waiting for events */
	PUMP_DONE,   /* both ends of stream passed on: close both */
	PUMP_FAILED, /* an error on a side (reset, broken pipe): close both */
};

/* Takes the two fds (non-blocking, owned from now on) and bufsize bytes for
 * each direction. 0, or -1 (ENOMEM) with nothing taken. */
int pump_init(struct pump *p, int a, int b, size_t bufsize);
/* An epoll event on side i (0: a, 1: b). */
void pump_event(struct pump *p, int i, uint32_t events);
/* Moves what can be moved now. */
enum pump_state pump_run(struct pump *p);
/* Frees the buffers and closes both fds. Safe to call twice. */
void pump_free(struct pump *p);

#endif

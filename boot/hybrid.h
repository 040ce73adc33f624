/* The host side of hybrid vsock (Firecracker's convention, which
 * wisp-vsockd speaks): connect to the Unix socket, write "CONNECT <port>\n",
 * read "OK <n>\n"; from then on the socket is the stream to the guest.
 * Dialling is a step of the event loop with a deadline, never a wait. */
#ifndef WISP_HYBRID_H
#define WISP_HYBRID_H

#include <stddef.h>

#include "loop.h"

#define DIAL_ERR_MAX 256

struct dial {
	struct loop *loop;
	int fd; /* the socket; watched (w) once connected */
	struct watch w;
	struct timer timer;    /* the deadline, and the retry of a full backlog */
	long long deadline_ms; /* CLOCK_MONOTONIC */
	int timeout_ms;
	char path[108];
	unsigned port;
	int connected; /* CONNECT written: reading the answer */
	char answer[32];
	size_t len;
	/* The end: fd >= 0 (non-blocking, the guest's stream), or -1 and err. */
	void (*done)(struct dial *d, int fd, const char *err);
};

/* Starts dialling port through the socket at path; done() is called from
 * the loop (never from here), within timeout_ms. -1 when it cannot start. */
int dial_start(struct dial *d, struct loop *l, const char *path, unsigned port, int timeout_ms,
	       void (*done)(struct dial *, int, const char *));
/* How long the guest agent gets to answer a connection. */
#define DIAL_AGENT_MS 10000

/* Whether the dial is under way (started, not yet done or cancelled). */
int dial_active(const struct dial *d);
/* Gives up a dial under way; done() is not called. Safe to call twice. */
void dial_cancel(struct dial *d);

#endif

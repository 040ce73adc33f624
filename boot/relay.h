/* The host's end of one framed stream (common/wire.h): the command's stdin
 * and the user's signals and window size go down, its stdout, stderr, log
 * lines and trace come up, until its EXIT. The host mirror of the guest's
 * init/session.c: non-blocking, bounded queues, a full queue stops reading
 * its source: stdin waits for room towards the guest, the stream waits
 * for room in the user's stdout and stderr (sink.h). Whose stream it is (the agent's, PID 1's port) and what
 * follows EXIT is the owner's business, told through the callbacks. */
#ifndef WISP_RELAY_H
#define WISP_RELAY_H

#include <stdint.h>

#include "../common/queue.h"
#include "loop.h"
#include "sink.h"
#include "trace.h"

struct relay;

struct relay_events {
	/* EXIT arrived with this status; nothing more is relayed after it. */
	void (*exited)(struct relay *r, int status);
	/* The stream ended (broken == 0) or carried what no guest of ours
	 * sends (broken == 1) before EXIT; the relay has closed it. */
	void (*lost)(struct relay *r, int broken, const char *why);
};

struct relay {
	struct loop *loop;
	const struct relay_events *ev;
	struct trace *trace;
	long long t0;         /* launch, for the trace */
	int io_fd;            /* the stream; -1 before attach and after close */
	struct watch io;      /* io_fd while it is watched (not while output waits) */
	int stdin_fd;         /* -1: none, or ended */
	struct watch in;      /* stdin_fd while there is room for what it brings */
	int stdin_pollable;   /* a regular file cannot be polled: it is pumped */
	int tty;              /* stdin is a terminal: its EOF is the guest's to see */
	int hello;            /* the guest started the command */
	int exit_status;      /* from EXIT, or -1 */
	int blocked;          /* a frame waits for room in its sink */
	struct sink out, err; /* the command's stdout and stderr on the host */
	struct queue to_guest, from_guest;
};

int relay_init(struct relay *r, struct loop *l, const struct relay_events *ev, struct trace *t,
	       long long t0);
void relay_free(struct relay *r);
/* Where the command's stdout and stderr go (relay_init: 1 and 2). */
int relay_output(struct relay *r, int out_fd, int err_fd);
/* Whether the stream is open. */
int relay_open(const struct relay *r);
/* Bytes of the command's output still to be written on the host. */
size_t relay_output_pending(const struct relay *r);
/* The user stopped waiting: output not yet written is given up. */
void relay_abandon_output(struct relay *r);
/* The stream to relay on (non-blocking; the relay owns it from now on). */
int relay_attach(struct relay *r, int fd);
/* Forwards the user's stdin once a stream is attached (and, for the agent,
 * its EXEC sent: attach and send it together). */
void relay_open_stdin(struct relay *r, int fd, int tty);
/* The command for the agent, as the first frame. */
void relay_send_exec(struct relay *r, const void *keys, uint32_t len);
void relay_send_signal(struct relay *r, int sig);
void relay_send_winsize(struct relay *r, unsigned short rows, unsigned short cols);
/* PID 1's port: the host has the status, the guest may power off. */
void relay_send_bye(struct relay *r);
/* Hangs up the stream (the agent takes it as BYE, or as SIGHUP for a
 * command still running). */
void relay_close(struct relay *r);
/* A stdin that cannot be polled is read here, between two turns of the
 * loop; returns 1 when the loop must not sleep (more of it can be read). */
int relay_pump(struct relay *r);

#endif

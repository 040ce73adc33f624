/* The relay between the command's stdio and the host channel: frames the
 * command's output, unframes the host's input, signals and window size.
 * Every fd is non-blocking and every queue bounded, so PID 1 never blocks
 * on a slow peer: a full queue stops reading its source. */
#ifndef WISP_SESSION_H
#define WISP_SESSION_H

#include <stdint.h>
#include <sys/epoll.h>

#include "../common/queue.h"
#include "spawn.h"

/* What each fd is armed with in epoll, so only changes are sent. */
struct armed {
	int fd;
	uint32_t events;
};

struct session {
	int chan; /* the host channel, -1 when absent or gone */
	struct command *cmd;
	struct queue to_host, from_host, to_cmd;
	int stdin_ended; /* the host sent end of input */
	int bye;         /* the host acknowledged EXIT */
	/* Output the command wrote before it ended that is still to be read:
	 * it is owed to the host however slowly the host reads. */
	size_t owed_out, owed_err;
	struct armed armed[5]; /* by enum session_tag */
};

/* Which fd an epoll event is for. */
enum session_tag { TAG_CHAN = 1, TAG_IN, TAG_OUT, TAG_ERR };
/* Tags from here on are the session owner's (the agent's, PID 1's). */
enum { TAG_OWNER = 100 };

int session_init(struct session *s, int chan, struct command *cmd);

/* Queues one frame for the host; drops it when the channel is gone or the
 * queue has no room (only for LOG frames, which are best effort). */
int session_send(struct session *s, uint8_t type, const void *payload, uint32_t len);

/* Registers or updates in epfd the events each fd now needs. */
void session_arm(struct session *s, int epfd);

/* Handles readiness of one fd. */
void session_event(struct session *s, uint32_t tag, uint32_t events);

/* Whether the command's output has reached EOF on every stream. */
int session_output_done(const struct session *s);

/* The command ended: what its pipes (or pty) hold now was written before
 * that, by it or by what it left behind, and the relay reads all of it
 * before any deadline for later writers applies. */
void session_command_ended(struct session *s);

/* Reads what is owed as far as the host queue has room; a stream found
 * empty owes nothing more. */
void session_read_owed(struct session *s);

/* Whether output written before the command ended may still be unread. */
int session_output_owed(const struct session *s);

/* Stops reading the command's output: what is left is not sent. */
void session_abandon_output(struct session *s);

/* Whether every queued frame has reached the host (or never can). */
int session_flushed(const struct session *s);

#endif

/* PID 1's life after the command starts (DESIGN.md steps 7 and 8): one
 * epoll loop over the signalfd, a timerfd and the session's fds. It reaps
 * every zombie, relays the command's stdio, and when the command ends
 * takes the VM down in order: SIGTERM to all, a grace, SIGKILL, the rest of
 * the output, the exit status to the host, power-off. */
#ifndef WISP_SUPERVISE_H
#define WISP_SUPERVISE_H

#include "config.h"
#include "session.h"
#include "trace.h"

/* Blocks the signals PID 1 handles and returns a signalfd for them. Call
 * before spawning anything, so no SIGCHLD is lost. */
int signals_setup(void);

/* What a process forked from PID 1 does before it runs anything else:
 * every disposition back to the default, nothing blocked, so that PID 1's
 * handling does not make it deaf to a shutdown's SIGTERM. */
void signals_reset(void);

/* Runs until power-off; never returns. */
_Noreturn void supervise(const struct config *c, int sigfd, int console_fd, struct session *s,
			 struct command *cmd, struct trace *trace, pid_t agent);

#endif

/* Starts the user's command as a child of PID 1 (DESIGN.md step 6): its own
 * session, a pty as controlling tty when interactive, pipes otherwise, the
 * user, environment and working directory it asked for. */
#ifndef WISP_SPAWN_H
#define WISP_SPAWN_H

#include <sys/types.h>

#include "config.h"

struct command {
	pid_t pid;
	int in_fd;  /* PID 1's end of the command's stdin (pipe or pty), or -1 */
	int out_fd; /* its stdout (or the pty), or -1 */
	int err_fd; /* its stderr, or -1 (a tty merges it into out_fd) */
	int is_pty;
	/* Hangs up when the command's execve is done (the kernel loaded it;
	 * what runs next is ld.so, libc and the program) or failed; -1 if
	 * none. Its owner watches it for the trace's "loaded", then closes it. */
	int exec_fd;
};

/* console_fd >= 0 makes the console the command's stdio (no relay).
 * Returns -1 and logs when the command could not be started. */
int spawn_command(const struct config *c, int console_fd, struct command *cmd);

#endif

/* Running the tools `wisp image` drives (mmdebstrap, mksquashfs, ...) to
 * their end, with the user's Ctrl-C stopping the whole tool, not only its
 * first process. */
#ifndef WISP_PROC_RUN_H
#define WISP_PROC_RUN_H

/* The signals that stop a run: blocked by proc_guard_init() and read
 * from its signalfd, so no handler does work. */
#include <signal.h>

struct proc_guard {
	int sigfd;
	sigset_t old; /* the mask before: proc_guard_close() restores it */
	int signo;    /* the signal that stopped a run; 0 if none */
};

/* Blocks SIGINT, SIGTERM and SIGHUP and opens their signalfd: 0 or -1.
 * proc_guard_close() closes it and restores the signal mask. */
int proc_guard_init(struct proc_guard *g);
void proc_guard_close(struct proc_guard *g);

struct proc_cmd {
	char *const *argv;   /* argv[0] looked up in PATH */
	char *const *setenv; /* "NAME=VALUE" to add; NULL: none */
	char *const *unset;  /* names to drop; NULL: none */
	const char *cwd;     /* NULL: wisp's */
	int in_fd;           /* -1: /dev/null */
	int out_fd;          /* -1: /dev/null */
	int err_fd;          /* -1: /dev/null */
};

#define PROC_STOPPED (-2) /* a signal in g stopped it: g->signo says which */

/* Runs c in a process group of its own and waits for it: its exit status
 * (128 + N when signal N ended it), PROC_STOPPED when the user's signal
 * came first (the group is sent SIGTERM, then SIGKILL after a grace), or
 * -1 when it could not start (errno). */
int proc_run(struct proc_guard *g, const struct proc_cmd *c);

#endif

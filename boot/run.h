/* `wisp run`, the background side of `wisp start`, and `wisp exec`: boot a
 * VM (or reach a running one), relay a command's stdio, return its status. */
#ifndef WISP_RUN_H
#define WISP_RUN_H

#include "options.h"

/* Exit statuses of the launcher itself (DESIGN.md). */
#define EXIT_TIMEOUT 124
#define EXIT_LAUNCHER 125

enum run_mode {
	MODE_VSOCK,   /* run: the command through the guest agent (the default) */
	MODE_CHANNEL, /* run --no-vsock: PID 1 runs it, stdio on the virtio port */
	MODE_SERVE,   /* start: boot, say when ready, serve until stopped */
	MODE_EXEC,    /* exec: no VM of ours, the command through its agent */
};

struct launch {
	enum run_mode mode;
	const char *self_dir; /* where wisp, the kernel and the helpers are */
	const char *vm_name;  /* MODE_SERVE and MODE_EXEC: the VM's name */
};
/* MODE_SERVE reports to msg_fd() (the waiting `wisp start`) until the VM is
 * ready, then writes one NUL byte there, closes it and logs to stderr. */

/* Returns the exit status for the launcher (the command's own, or 124/125;
 * for MODE_SERVE 0 once the VM ended after being ready). */
int run_vm(const struct run_opts *o, const struct launch *l);
/* `wisp exec NAME`: the command through the agent of a started VM. */
int exec_in_vm(const struct run_opts *o, const char *name);

#endif

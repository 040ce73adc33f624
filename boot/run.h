/* The subcommands that run something: each a short composition of the
 * units (vm, relay, command, outcome, trace) around one event loop. */
#ifndef WISP_RUN_H
#define WISP_RUN_H

#include "options.h"
#include "outcome.h"

/* `wisp run`: boot, run the command over vsock (or the virtio port with
 * --no-vsock), power off; the command's exit status, or 124/125. */
int run_vm(const struct run_opts *o, const char *self_dir);
/* The background process of `wisp start`: boots the VM, reports to
 * msg_fd() (the waiting `start`) until it is ready, then writes one NUL
 * byte there, closes it and logs to stderr; serves until stopped. */
int serve_vm(const struct run_opts *o, const char *self_dir);
/* `wisp exec NAME`: the command through the agent of a started VM. */
int exec_in_vm(const struct run_opts *o, const char *name);

#endif

/* `wisp run`: boot a VM, relay the command's stdio, return its status. */
#ifndef WISP_RUN_H
#define WISP_RUN_H

#include "options.h"

/* Exit statuses of the launcher itself (DESIGN.md). */
#define EXIT_TIMEOUT 124
#define EXIT_LAUNCHER 125

/* Returns the exit status for the launcher (the command's own, or 124/125). */
int run_vm(const struct run_opts *o, const char *self_dir);

#endif

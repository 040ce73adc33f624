/* The start of every helper process wisp forks (the VMM, virtiofsd,
 * wisp-vsockd): it dies with wisp, stays out of the terminal's signals and
 * reads and writes nothing of the user's. */
#ifndef WISP_CHILD_H
#define WISP_CHILD_H

#include <sys/types.h>

/* In the child, before exec: unblocks signals, asks for deathsig when the
 * parent dies (and exits if it already has), takes a process group of its
 * own, and points stdin and stdout at /dev/null. Returns the /dev/null fd
 * (for stderr too, where the caller wants), or exits 127. */
int child_prepare(pid_t parent, int deathsig);

#endif

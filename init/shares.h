/* Host directories shared over 9p or virtiofs (DESIGN.md boot step 3). */
#ifndef WISP_SHARES_H
#define WISP_SHARES_H

#include "config.h"

/* Mounts every share at its guest path (created if missing), read-only
 * where asked. Returns -1 after logging the first that failed: the command
 * must not run on a silently empty directory. */
int mount_shares(const struct config *c);

#endif

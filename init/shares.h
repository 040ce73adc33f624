/* Host directories shared over 9p or virtiofs (DESIGN.md boot step 3). */
#ifndef WISP_SHARES_H
#define WISP_SHARES_H

#include "config.h"

/* The virtio transport of Linux 6.1 caps msize near 512000 bytes; asking
 * for that much moves large reads and writes in few round trips. */
#define SHARE_9P_MSIZE 512000

/* Mounts every share at its guest path (created if missing), read-only
 * where asked. Returns -1 after logging the first that failed: the command
 * must not run on a silently empty directory. */
int mount_shares(const struct config *c);

#endif

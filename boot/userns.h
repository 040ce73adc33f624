/* The user namespace wisp makes for itself when it is not root (the VMM's
 * mount namespace of --rootfs, --net user's network namespace): it maps
 * only the caller's own ids, with setgroups denied as the kernel requires
 * of an unprivileged gid map, so that whatever runs in it stays who it was
 * for its files and merely gains rights over its new namespaces. */
#ifndef WISP_USERNS_H
#define WISP_USERNS_H

#include <sys/types.h>

/* After unshare(CLONE_NEWUSER): maps uid and gid (the caller's, taken
 * before) to themselves. 0, or -1 with errno and *what naming the file. */
int userns_map_self(uid_t uid, gid_t gid, const char **what);

#endif

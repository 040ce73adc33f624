/* The filesystems every guest has (DESIGN.md boot step 1) and their
 * unmounting, in reverse, at shutdown. */
#ifndef WISP_MOUNTS_H
#define WISP_MOUNTS_H

void mount_basics(void);

/* Unmounts everything but the initramfs root, newest first, after a sync. */
void unmount_all(void);

#endif

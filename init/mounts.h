/* The filesystems every guest has (DESIGN.md boot step 1) and their
 * unmounting, in reverse, at shutdown. */
#ifndef WISP_MOUNTS_H
#define WISP_MOUNTS_H

void mount_basics(void);

/* Unmounts what holds data beyond the VM (shares, disks), newest first,
 * after a sync; the initramfs root and memory-only filesystems stay. */
void unmount_all(void);

#endif

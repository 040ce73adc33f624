/* The switch from the initramfs to a real root (wisp.root, --rootfs): the
 * root is mounted, an overlay on a tmpfs takes the writes of a read-only
 * one, PID 1's filesystems move into it, the initramfs is emptied, and PID 1
 * chroots there and carries on as before. */
#ifndef WISP_ROOTFS_H
#define WISP_ROOTFS_H

#include "config.h"

/* 0 when the root is ready (or none was asked for), -1 with one line
 * logged when it cannot be used: the command must not run. */
int rootfs_switch(const struct config *c);

/* Makes a root that can hold data (an image mounted read-write) read-only
 * before the reset, once everything is killed and synced. */
void rootfs_seal(void);

#endif

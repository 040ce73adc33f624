/* Where two images differ: both unpacked, their trees walked side by
 * side in name order, the first path whose kind, mode, owner, size, time,
 * link target or contents differ named in one line. */
#ifndef WISP_IMAGE_DIFF_H
#define WISP_IMAGE_DIFF_H

#include <stddef.h>

#include "proc_run.h"

/* Unpacks image (of format squashfs, erofs, ext4 or tar) into dir, which
 * must not exist: 0, -1, or PROC_STOPPED. */
int image_unpack(struct proc_guard *g, const char *format, const char *image, const char *dir);

/* Compares two unpacked trees: 1 with the first difference in out
 * ("/usr/bin/x: contents differ"), 0 when they are the same. */
int image_tree_diff(const char *a, const char *b, char *out, size_t size);

#endif

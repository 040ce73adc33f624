/* `wisp image ...`, and the image names `--rootfs` accepts. */
#ifndef WISP_IMAGE_CMD_H
#define WISP_IMAGE_CMD_H

#include <stddef.h>

int cmd_image(int argc, char **argv);

/* --rootfs SOURCE as an image name: 0 when SOURCE is a path (or no name);
 * 1 with the cached image in path (a debian:SUITE not built yet is built
 * first); -1 with the reason in err (empty when already said). */
int image_rootfs_name(const char *source, char *path, size_t size, char *err, size_t errlen);

#endif

/* The octal escapes of /proc/self/mounts and mountinfo (\040 for a space,
 * \011, \012, \134), read back by PID 1 at shutdown and by the host when
 * it stages a shared root. */
#ifndef WISP_MOUNT_ESCAPE_H
#define WISP_MOUNT_ESCAPE_H

/* Undoes them in place; anything else is kept as it is. */
void mount_unescape(char *path);

#endif

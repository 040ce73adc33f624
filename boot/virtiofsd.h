/* QEMU's virtiofsd, one per virtiofs volume, started and ended by wisp. */
#ifndef WISP_VIRTIOFSD_H
#define WISP_VIRTIOFSD_H

#include <sys/types.h>

#define VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"

/* Starts virtiofsd serving dir. Returns a connected vhost-user socket for
 * the VMM (the connection waits in virtiofsd's backlog until it accepts),
 * or -1 with a message printed. No socket path outlives this call. */
int virtiofsd_start(const char *dir, const char *cache, int verbose, pid_t *pid);

#endif

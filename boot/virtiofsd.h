/* QEMU's virtiofsd, one per virtiofs volume, started and ended by wisp. */
#ifndef WISP_VIRTIOFSD_H
#define WISP_VIRTIOFSD_H

#include <sys/types.h>

#include "options.h"

#define VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"

/* Starts virtiofsd serving the volume v (checked by volumes_check()). Its
 * messages go to err_fd when verbose (-1: wisp's stderr), else nowhere.
 * Returns a connected vhost-user socket for the VMM (the connection waits
 * in virtiofsd's backlog until it accepts), or -1 with a message printed.
 * No socket path outlives this call. */
int virtiofsd_start(const struct volume *v, int verbose, int err_fd, pid_t *pid);

#endif

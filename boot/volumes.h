/* The host directories of -v volumes, as wisp hands them to the VMM and
 * its helpers. */
#ifndef WISP_VOLUMES_H
#define WISP_VOLUMES_H

#include "options.h"

/* Every volume's host side must exist and be a directory before anything
 * starts; each volume's host becomes its realpath(), resolved here once,
 * and only that reaches QEMU and virtiofsd. Options that wisp cannot keep
 * as this user are refused: passthrough, and a read-only virtiofs volume,
 * need root. 0, or -1 with one line printed. */
int volumes_check(const struct run_opts *o);

#endif

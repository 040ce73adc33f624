/* The files of /etc that say who and where this VM is: written by PID 1 at
 * each boot (on the overlay when there is a real root), never baked into
 * an image. */
#ifndef WISP_ETC_FILES_H
#define WISP_ETC_FILES_H

#include "config.h"

/* Replaces path with text (never through a link planted there). */
void etc_put_file(const char *path, const char *text);

/* /etc/hosts (localhost, the hostname, host.wisp.internal when the host
 * has an alias) and /etc/resolv.conf (the NIC's resolver, or a comment
 * saying there is no network). */
void etc_write_network(const struct config *c);

/* The text of both, for the unit tests: pure. */
void etc_hosts_text(const struct config *c, char *out, size_t size);
void etc_resolv_text(const struct config *c, char *out, size_t size);

#endif

/* Unix stream sockets as wisp makes them: close-on-exec, and a listener's
 * file is mode 0600 from the moment it exists (no window in which another
 * user could connect), whatever the caller's umask. */
#ifndef WISP_UNIX_SOCK_H
#define WISP_UNIX_SOCK_H

#include <stddef.h>
#include <sys/un.h>

/* Fills a with path; -1 (ENAMETOOLONG) when path does not fit sun_path. */
int unix_addr(const char *path, struct sockaddr_un *a);
/* A listening socket at path (which must not exist), non-blocking when
 * nonblock; -1 with errno. */
int unix_listen(const char *path, int backlog, int nonblock);

#endif

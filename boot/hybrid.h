/* The host side of hybrid vsock (Firecracker's convention, which
 * wisp-vsockd speaks): connect to the Unix socket, write "CONNECT <port>\n",
 * read "OK <n>\n"; from then on the socket is the stream to the guest. */
#ifndef WISP_HYBRID_H
#define WISP_HYBRID_H

#include <stddef.h>

/* Returns a blocking, connected fd past the OK line, or -1 with a reason in
 * err. timeout_ms bounds the whole exchange. */
int hybrid_connect(const char *uds, unsigned port, int timeout_ms, char *err, size_t errlen);
/* A listening Unix socket at path (mode 0600), non-blocking; -1 with err. */
int unix_listen(const char *path, char *err, size_t errlen);

#endif

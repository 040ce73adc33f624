#include "hybrid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr(const char *path, struct sockaddr_un *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	strcpy(a->sun_path, path);
	return 0;
}

int hybrid_connect(const char *uds, unsigned port, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un a;
	if (unix_addr(uds, &a, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || write(fd, line, (size_t)n) != n) {
		snprintf(err, errlen, "%s: %s", uds, strerror(errno));
		goto fail;
	}
	/* Byte by byte: what follows the line is the guest's. */
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, line + len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			snprintf(err, errlen, "no answer from guest port %u within %d ms", port, timeout_ms);
			goto fail;
		}
		if (r <= 0) {
			snprintf(err, errlen, "guest port %u refused the connection", port);
			goto fail;
		}
		if (line[len] == '\n')
			break;
		if (++len == sizeof(line) - 1) {
			snprintf(err, errlen, "a malformed answer on %s", uds);
			goto fail;
		}
	}
	line[len] = '\0';
	if (strncmp(line, "OK ", 3)) {
		snprintf(err, errlen, "guest port %u: unexpected answer '%s'", port, line);
		goto fail;
	}
	tv.tv_sec = tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
fail:
	close(fd);
	return -1;
}

int unix_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a;
	if (unix_addr(path, &a, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Created 0600 from the start: no moment when others may connect. */
	mode_t old = umask(077);
	int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

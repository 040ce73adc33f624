#include "unix_sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

int unix_listen(const char *path, int backlog, int nonblock)
{
	struct sockaddr_un a;
	if (unix_addr(path, &a) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	/* bind() creates the file with 0777 & ~umask: 0600, only its owner. */
	mode_t old = umask(0177);
	int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, backlog) == 0;
	umask(old);
	if (!ok) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

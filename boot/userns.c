/* The caller's own ids in its new user namespace (userns.h). */
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = n < 0 ? errno : EIO; /* a short write sets no errno */
	close(fd);
	if (n == (ssize_t)strlen(text))
		return 0;
	errno = saved;
	return -1;
}

int userns_map_self(uid_t uid, gid_t gid, const char **what)
{
	char map[64];
	*what = "setgroups";
	if (write_file("/proc/self/setgroups", "deny") < 0)
		return -1;
	*what = "uid_map";
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		return -1;
	*what = "gid_map";
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

/* A background VM's bounded log (vm_log.h). */
#include "vm_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"

/* Opens path as the new stderr. */
static int take_stderr(const char *path, int truncate)
{
	int fd = open(path,
		      O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
			      (truncate ? O_TRUNC : 0),
		      0600);
	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

int vm_log_open(struct vm_log *l, const char *dir)
{
	snprintf(l->path, sizeof(l->path), "%s/log", dir);
	if (take_stderr(l->path, 0) < 0) {
		msg_warn("%s: %s", l->path, strerror(errno));
		return -1;
	}
	l->on = 1;
	return 0;
}

static void rotate(struct vm_log *l)
{
	char old[sizeof(l->path) + 2];
	snprintf(old, sizeof(old), "%s.1", l->path);
	if (rename(l->path, old) < 0 || take_stderr(l->path, 1) < 0) {
		/* Cannot rotate: start the log again rather than grow it. */
		if (ftruncate(STDERR_FILENO, 0) < 0)
			l->on = 0;
	}
	dprintf(STDERR_FILENO, "wisp: the log reached %d bytes; what came before is in log.1\n",
		VM_LOG_MAX);
}

void vm_log_line(struct vm_log *l, const char *line)
{
	struct stat st;
	size_t len = strlen(line) + 1;
	if (l->on && fstat(STDERR_FILENO, &st) == 0 && st.st_size + (off_t)len > VM_LOG_MAX)
		rotate(l);
	dprintf(STDERR_FILENO, "%s\n", line);
}

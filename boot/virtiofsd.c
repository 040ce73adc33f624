/* QEMU's virtiofsd for one virtiofs volume (virtiofsd.h). */
#include "virtiofsd.h"

#include "../common/unix_sock.h"
#include "child.h"
#include "msg.h"
#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* virtiofsd reads its listening socket from this fd. */
#define VIRTIOFSD_FD 3

static int listen_and_connect(int *listener, int *client)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char dir[256], path[300];
	snprintf(dir, sizeof(dir), "%s/wisp-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/fs.sock", dir);
	struct sockaddr_un sa;
	int ok = unix_addr(path, &sa) == 0 && (*listener = unix_listen(path, 1, 0)) >= 0 &&
		 (*client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
		 connect(*client, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	int saved = errno;
	/* Connected: the path has done its job. */
	unlink(path);
	rmdir(dir);
	errno = saved;
	return ok ? 0 : -1;
}

/* virtiofsd's -o values are split at commas, and its parser reads "\," as
 * a comma and "\\" as a backslash: the path stays one value, whatever its
 * name. */
static void fuse_opt_escape(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (; *in && n + 2 < size; in++) {
		if (*in == ',' || *in == '\\')
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n] = '\0';
}

int virtiofsd_start(const char *dir, const char *cache, int verbose, pid_t *pid)
{
	int listener = -1, client = -1;
	if (listen_and_connect(&listener, &client) < 0) {
		msg_warn("virtiofs socket: %s", strerror(errno));
		goto fail;
	}
	const char *bin = getenv("WISP_VIRTIOFSD");
	if (!bin || !*bin)
		bin = VIRTIOFSD_DEFAULT;
	if (access(bin, X_OK) < 0) {
		msg_warn("%s: %s (install qemu-system-common)", bin, strerror(errno));
		goto fail;
	}
	char source[2 * VOLUME_HOST_MAX + 8], cache_opt[64], fd_opt[32];
	memcpy(source, "source=", 8);
	fuse_opt_escape(dir, source + 7, sizeof(source) - 7);
	snprintf(cache_opt, sizeof(cache_opt), "cache=%s", cache ? cache : "auto");
	snprintf(fd_opt, sizeof(fd_opt), "--fd=%d", VIRTIOFSD_FD);
	pid_t parent = getpid();
	*pid = fork();
	if (*pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		goto fail;
	}
	if (*pid == 0) {
		int null = child_prepare(parent, SIGKILL);
		/* It reports the VMM's disconnect as an error: noise, unless asked. */
		if ((!verbose && dup2(null, STDERR_FILENO) < 0) || dup2(listener, VIRTIOFSD_FD) < 0)
			_exit(127);
		execl(bin, bin, fd_opt, "-o", source, "-o", cache_opt, "-o", "log_level=err",
		      (char *)NULL);
		_exit(127);
	}
	close(listener);
	return client;
fail:
	if (listener >= 0)
		close(listener);
	if (client >= 0)
		close(client);
	return -1;
}

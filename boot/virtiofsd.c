/* QEMU's virtiofsd for one virtiofs volume (virtiofsd.h). */
#include "virtiofsd.h"

#include "../common/unix_sock.h"
#include "child.h"
#include "msg.h"
#include "volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* --- :ro: virtiofsd has no read-only mode --- */

/* In a mount namespace of the child's own, dir becomes a read-only bind
 * mount of itself (submounts too), which virtiofsd serves: the guest's
 * writes fail on the host whatever it remounts. Root only (volumes_check()
 * refuses it otherwise). 0, or -1 with errno. */
static int read_only_view(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					       MOUNT_ATTR_NODEV };
	if (mount_setattr(AT_FDCWD, dir, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
		return 0;
	/* Before Linux 5.12: the top mount only. */
	return mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		     NULL);
}

/* What the child failed at before exec, for the parent to say. */
enum { STAGE_READ_ONLY, STAGE_EXEC };
struct child_error {
	int stage;
	int err;
};

static _Noreturn void child_fail(int report, int stage)
{
	struct child_error e = { stage, errno };
	ssize_t w = write(report, &e, sizeof(e));
	(void)w;
	_exit(127);
}

int virtiofsd_start(const char *dir, const char *cache, int verbose, pid_t *pid)
{
	int listener = -1, client = -1, report[2] = { -1, -1 };
	/* The volume volumes_check() resolved dir for: its options. */
	const struct volume *v = volumes_find(dir);
	if (!v) {
		msg_warn("virtiofs %s: not a checked volume", dir);
		return -1;
	}
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
	if (pipe2(report, O_CLOEXEC) < 0) {
		msg_warn("pipe: %s", strerror(errno));
		goto fail;
	}
	pid_t parent = getpid();
	*pid = fork();
	if (*pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		goto fail;
	}
	if (*pid == 0) {
		int null = child_prepare(parent, SIGKILL);
		if (v->ro && read_only_view(dir) < 0)
			child_fail(report[1], STAGE_READ_ONLY);
		/* It reports the VMM's disconnect as an error: noise, unless asked. */
		if ((!verbose && dup2(null, STDERR_FILENO) < 0) || dup2(listener, VIRTIOFSD_FD) < 0)
			child_fail(report[1], STAGE_EXEC);
		const char *argv[] = { bin,  fd_opt,          "-o", source, "-o", cache_opt,
				       "-o", "log_level=err", NULL };
		execv(bin, (char *const *)argv);
		child_fail(report[1], STAGE_EXEC);
	}
	close(listener);
	listener = -1;
	close(report[1]);
	report[1] = -1;
	/* Nothing to read: the exec happened. */
	struct child_error e;
	ssize_t n;
	while ((n = read(report[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (n == (ssize_t)sizeof(e)) {
		const char *const stages[] = { "read-only mount", bin };
		msg_warn("virtiofs %s: %s: %s", dir, stages[e.stage], strerror(e.err));
		waitpid(*pid, NULL, 0); /* it has exited */
		close(client);
		return -1;
	}
	return client;
fail:
	if (listener >= 0)
		close(listener);
	if (client >= 0)
		close(client);
	for (int i = 0; i < 2; i++)
		if (report[i] >= 0)
			close(report[i]);
	return -1;
}

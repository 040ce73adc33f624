/* The runtime directory: private roots, one directory per VM, locks (runtime.h). */
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_FILE "lock"
#define STATE_FILE "state"
#define RUN_PREFIX "run-"

static int fail(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

/* Made if missing; refused unless it is a directory of ours that only we
 * can enter, since the sockets in it run commands in our VMs. */
static int private_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, "runtime directory", path);
	struct stat st;
	if (lstat(path, &st) < 0)
		return fail(err, errlen, "runtime directory", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(err, errlen,
			 "runtime directory %s: not a private directory of this user "
			 "(want mode 0700, owner %u)",
			 path, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

int runtime_root(char *out, size_t size, char *err, size_t errlen)
{
	const char *env = getenv("WISP_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(out, size, "%s/wisp", xdg);
	else
		n = snprintf(out, size, "/tmp/wisp-%u", (unsigned)geteuid());
	/* Room for "/<32-byte name>/vsock_65535" under sun_path's limit. */
	if (n < 0 || (size_t)n >= size || n > RUNTIME_PATH_MAX - 46) {
		snprintf(err, errlen,
			 "runtime directory %s: too long for socket paths (max %d bytes)", out,
			 RUNTIME_PATH_MAX - 46);
		return -1;
	}
	return private_dir(out, err, errlen);
}

int runtime_vm_dir(const char *name, char *out, size_t size, char *err, size_t errlen)
{
	char root[RUNTIME_PATH_MAX];
	if (runtime_root(root, sizeof(root), err, errlen) < 0)
		return -1;
	snprintf(out, size, "%s/%s", root, name);
	return 0;
}

/* create: only for a new directory; a check must never make a lock file
 * appear in a directory its owner is removing. */
static int take_lock(const char *dir, int create)
{
	char path[RUNTIME_PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int runtime_alive(const char *dir)
{
	int fd = take_lock(dir, 0);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EWOULDBLOCK;
}

void runtime_remove(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno == EISDIR)
					/* a shared root's staging directory: empty here */
					unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		closedir(d);
	}
	rmdir(dir);
}

/* A leftover is moved aside while its lock is held, then removed: whoever
 * races for the same name either holds that lock or sees it held, so no
 * process ever removes the files of a directory another one just made. */
int runtime_reap(const char *dir)
{
	int fd = take_lock(dir, 0);
	if (fd < 0 && errno == EWOULDBLOCK)
		return -1;
	/* No lock file at all: never a live VM's (a new one appears locked),
	 * but perhaps one being removed by its owner; moving it is harmless. */
	if (fd < 0 && errno != ENOENT)
		return -1;
	char grave[RUNTIME_PATH_MAX + 16];
	const char *slash = strrchr(dir, '/');
	int n = slash ? (int)(slash - dir) : 0;
	snprintf(grave, sizeof(grave), "%.*s/.dead-XXXXXX", n, dir);
	int made = mkdtemp(grave) != NULL;
	int ok = made && rename(dir, grave) == 0;
	int saved = errno;
	if (ok)
		runtime_remove(grave);
	else if (made)
		rmdir(grave);
	if (fd >= 0)
		close(fd);
	return ok || saved == ENOENT ? 0 : -1;
}

/* A directory appears under its final name already locked, so that no
 * scan of the root ever takes a VM being born for a leftover. */
int runtime_claim(const char *name, char *dir, size_t size, char *err, size_t errlen)
{
	char root[RUNTIME_PATH_MAX], tmp[RUNTIME_PATH_MAX + 16];
	if (runtime_root(root, sizeof(root), err, errlen) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/.new-XXXXXX", root);
	if (!mkdtemp(tmp))
		return fail(err, errlen, "cannot create", tmp);
	int fd = take_lock(tmp, 1);
	if (fd < 0) {
		fail(err, errlen, "cannot lock", tmp);
		rmdir(tmp);
		return -1;
	}
	/* dir is only filled in on success: the caller removes what it names. */
	char target[RUNTIME_PATH_MAX + 64];
	if (name)
		snprintf(target, sizeof(target), "%s/%s", root, name);
	else
		snprintf(target, sizeof(target), "%s/" RUN_PREFIX "%s", root,
			 strrchr(tmp, '-') + 1);
	for (int attempt = 0; rename(tmp, target) < 0; attempt++) {
		int saved = errno;
		if ((saved == EEXIST || saved == ENOTEMPTY) && attempt == 0 &&
		    runtime_reap(target) == 0)
			continue; /* what a dead supervisor left */
		if (saved == EEXIST || saved == ENOTEMPTY)
			snprintf(err, errlen, "a VM named %s is already running",
				 name ? name : target);
		else
			snprintf(err, errlen, "cannot create %s: %s", target, strerror(saved));
		runtime_remove(tmp);
		close(fd);
		errno = saved;
		return -1;
	}
	snprintf(dir, size, "%s", target);
	return fd;
}

long long runtime_pid_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The name in parentheses may hold anything: count from its end. */
	char *p = strrchr(buf, ')');
	long long start = -1;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%lld", &start) != 1)
		start = -1;
	return start;
}

int runtime_write_state(const char *dir, const struct vm_state *s)
{
	char path[RUNTIME_PATH_MAX + 16], tmp[RUNTIME_PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s/" STATE_FILE ".new", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "pid=%d\npid_start=%lld\nstarted=%lld\nready=%d\nvmm=%s\nmemory=%u\ncpus=%u\n",
		(int)s->pid, s->pid_start, s->started, s->ready, s->vmm, s->memory_mib, s->cpus);
	if (fclose(f) != 0)
		return -1;
	/* Readers see the old state or the new one, never half of one. */
	return rename(tmp, path);
}

int runtime_read_state(const char *dir, struct vm_state *s)
{
	char path[RUNTIME_PATH_MAX + 16], line[128];
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	memset(s, 0, sizeof(*s));
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int pid = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "pid=%d", &pid) == 1)
			s->pid = pid;
		sscanf(line, "pid_start=%lld", &s->pid_start);
		sscanf(line, "started=%lld", &s->started);
		sscanf(line, "ready=%d", &s->ready);
		sscanf(line, "vmm=%31s", s->vmm);
		sscanf(line, "memory=%u", &s->memory_mib);
		sscanf(line, "cpus=%u", &s->cpus);
	}
	fclose(f);
	return s->pid > 0 ? 0 : -1;
}

void runtime_each_vm(void (*fn)(const char *name, const char *dir, void *ctx), void *ctx)
{
	char root[RUNTIME_PATH_MAX], err[256];
	if (runtime_root(root, sizeof(root), err, sizeof(err)) < 0)
		return;
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char dir[RUNTIME_PATH_MAX + 256];
		snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
		if (runtime_reap(dir) == 0)
			continue;
		if (strncmp(e->d_name, RUN_PREFIX, strlen(RUN_PREFIX)))
			fn(e->d_name, dir, ctx);
	}
	closedir(d);
}

/* Deciding and checking the guest's root (rootfs.h). */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err_text.h"

/* Where each superblock keeps its magic number (little-endian). */
#define EXT4_MAGIC_AT (1024 + 56) /* s_magic of the superblock at 1024 */
#define EXT4_MAGIC 0xEF53u
#define EROFS_MAGIC_AT 1024
#define EROFS_MAGIC 0xE0F5E1E2u
#define SQUASHFS_MAGIC_AT 0
#define SQUASHFS_MAGIC 0x73717368u /* "hsqs" */

static uint32_t le(const unsigned char *buf, size_t at, size_t bytes)
{
	uint32_t v = 0;
	for (size_t i = bytes; i-- > 0;)
		v = v << 8 | buf[at + i];
	return v;
}

enum rootfs_fstype rootfs_detect(const unsigned char *buf, size_t len)
{
	if (len >= SQUASHFS_MAGIC_AT + 4 && le(buf, SQUASHFS_MAGIC_AT, 4) == SQUASHFS_MAGIC)
		return ROOTFS_FS_SQUASHFS;
	if (len >= EROFS_MAGIC_AT + 4 && le(buf, EROFS_MAGIC_AT, 4) == EROFS_MAGIC)
		return ROOTFS_FS_EROFS;
	if (len >= EXT4_MAGIC_AT + 2 && le(buf, EXT4_MAGIC_AT, 2) == EXT4_MAGIC)
		return ROOTFS_FS_EXT4;
	return ROOTFS_FS_UNKNOWN;
}

const char *rootfs_fstype_name(enum rootfs_fstype t)
{
	switch (t) {
	case ROOTFS_FS_EXT4:
		return "ext4";
	case ROOTFS_FS_EROFS:
		return "erofs";
	case ROOTFS_FS_SQUASHFS:
		return "squashfs";
	case ROOTFS_FS_UNKNOWN:
		break;
	}
	return NULL;
}

int rootfs_is_tree(const struct rootfs *r)
{
	return r->kind == ROOTFS_HOST || r->kind == ROOTFS_DIR;
}

/* The image's type, from its first bytes; -1 with errno when it cannot be
 * read (as the VMM will have to, and written too for ":rw"). */
static int probe_image(const struct rootfs *r, enum rootfs_fstype *t)
{
	unsigned char buf[ROOTFS_PROBE_SIZE];
	int fd = open(r->path, (r->rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < sizeof(buf)) {
		ssize_t n = pread(fd, buf + got, sizeof(buf) - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break; /* shorter than a superblock: detect says unknown */
		got += (size_t)n;
	}
	close(fd);
	*t = rootfs_detect(buf, got);
	return 0;
}

/* Whether root/bin/sh is an executable file, every symbolic link on the
 * way resolved inside root (a distro's /bin is often "usr/bin", and an
 * absolute link must not lead into the host's own tree). */
static int has_shell(const char *root)
{
	int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return 0;
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	int fd = (int)syscall(SYS_openat2, dir, "bin/sh", &how, sizeof(how));
	close(dir);
	struct stat st;
	int ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Sets r->kind and r->path from r->source. */
static int classify(struct rootfs *r, char *err, size_t errlen)
{
	const char *src = !strcmp(r->source, "host") ? "/" : r->source;
	char *real = realpath(src, NULL);
	struct stat st;
	if (!real || stat(real, &st) < 0) {
		int saved = errno;
		free(real);
		return err_fail(err, errlen, "--rootfs %s: %s", r->source, strerror(saved));
	}
	int fits = strlen(real) < sizeof(r->path);
	if (fits)
		strcpy(r->path, real);
	free(real);
	if (!fits)
		return err_fail(err, errlen, "--rootfs %s: its real path is too long", r->source);
	if (!strcmp(r->source, "host"))
		r->kind = ROOTFS_HOST;
	else if (S_ISDIR(st.st_mode))
		r->kind = ROOTFS_DIR;
	else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		r->kind = ROOTFS_IMAGE;
	else
		return err_fail(err, errlen, "--rootfs %s: neither a directory nor an image file",
				r->source);
	return 0;
}

int rootfs_check(struct rootfs *r, int needs_shell, char *err, size_t errlen)
{
	r->kind = ROOTFS_NONE;
	r->fstype = ROOTFS_FS_UNKNOWN;
	r->path[0] = '\0';
	if (!r->source)
		return 0;
	if (classify(r, err, errlen) < 0)
		return -1;
	const char *rw = r->rw ? ":rw" : "";
	if (rootfs_is_tree(r)) {
		if (r->rw)
			return err_fail(err, errlen,
					"--rootfs %s:rw: %s is shared read-only (writes go to an "
					"overlay); :rw is for ext4 images",
					r->source,
					r->kind == ROOTFS_HOST ? "the host's root" : "a directory");
		if (access(r->path, R_OK | X_OK) < 0)
			return err_fail(err, errlen, "--rootfs %s: %s", r->source, strerror(errno));
		if (needs_shell && !has_shell(r->path))
			return err_fail(
				err, errlen,
				"--rootfs %s: no executable /bin/sh in it for a shell: give a "
				"command or --init",
				r->source);
		return 0;
	}
	if (probe_image(r, &r->fstype) < 0)
		return err_fail(err, errlen, "--rootfs %s%s: %s", r->source, rw, strerror(errno));
	if (r->fstype == ROOTFS_FS_UNKNOWN)
		return err_fail(err, errlen, "--rootfs %s: not an ext4, erofs or squashfs image",
				r->source);
	if (r->rw && r->fstype != ROOTFS_FS_EXT4)
		return err_fail(err, errlen,
				"--rootfs %s:rw: a %s image is read-only; only ext4 can be written "
				"through",
				r->source, rootfs_fstype_name(r->fstype));
	return 0;
}

int rootfs_below(const char *path, const char *dir, const char **rest)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/') {
		*rest = path[0] && path[1] ? path : "";
		return path[0] == '/';
	}
	if (strncmp(path, dir, n) || (path[n] != '/' && path[n] != '\0'))
		return 0;
	*rest = path + n;
	return 1;
}

/* Where the guest's PID 1 mounts filesystems of its own over the root:
 * the host's files there are not what the guest sees. */
static int guest_owned(const char *path)
{
	static const char *const dirs[] = { "/tmp", "/run", "/dev", "/proc", "/sys" };
	const char *rest;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (rootfs_below(path, dirs[i], &rest))
			return 1;
	return 0;
}

int rootfs_workdir(const char *cwd, const struct rootfs_mapping *maps, size_t n, int host_root,
		   char *out, size_t size)
{
	const struct rootfs_mapping *best = NULL;
	const char *best_rest = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *rest;
		if (rootfs_below(cwd, maps[i].host, &rest) &&
		    (!best || strlen(maps[i].host) > strlen(best->host))) {
			best = &maps[i];
			best_rest = rest;
		}
	}
	int len;
	if (best && !strcmp(best->guest, "/"))
		len = snprintf(out, size, "%s", *best_rest ? best_rest : "/");
	else if (best)
		len = snprintf(out, size, "%s%s", best->guest, best_rest);
	else if (host_root && cwd[0] == '/' && !guest_owned(cwd))
		len = snprintf(out, size, "%s", cwd);
	else
		return 0;
	return len >= 0 && (size_t)len < size ? 1 : -1;
}

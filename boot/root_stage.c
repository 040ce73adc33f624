/* The staging tree of a shared root (root_stage.h). */
#include "root_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../common/mount_escape.h"
#include "err_text.h"
#include "rootfs.h"
#include "userns.h"

/* Filesystems that hold no data of the host's files, but its kernel's and
 * processes' state, devices, or memory that is not the guest's business.
 * overlay, squashfs, fuse and network filesystems are shared: a container's
 * or live system's / is an overlay, and /snap holds squashfs. */
static const char *const pseudo_fs[] = {
	"proc",        "sysfs",
	"devtmpfs",    "devpts",
	"tmpfs",       "ramfs",
	"cgroup",      "cgroup2",
	"mqueue",      "debugfs",
	"tracefs",     "securityfs",
	"pstore",      "bpf",
	"configfs",    "fusectl",
	"binfmt_misc", "autofs",
	"hugetlbfs",   "efivarfs",
	"rpc_pipefs",  "nsfs",
	"selinuxfs",   "smackfs",
	"nfsd",        "fuse.gvfsd-fuse",
	NULL,
};
/* Trees of the host's runtime state, whatever is mounted there. */
static const char *const pseudo_dirs[] = { "/proc", "/sys", "/dev", "/run", NULL };

#define BLANK "/blank"
#define BLANK_FILE BLANK "/f"

/* The next space-separated field of *s, NUL-terminated; NULL at the end. */
static char *field(char **s)
{
	char *f = *s;
	if (!f || !*f)
		return NULL;
	char *sp = strchr(f, ' ');
	if (sp) {
		*sp = '\0';
		*s = sp + 1;
	} else {
		*s = NULL;
	}
	return f;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : -1;
	if (!s || errno || end == s || *end || v < 0 || v > 0x7fffffff)
		return -1;
	*out = (int)v;
	return 0;
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw":
 * ID, parent, dev, root, mount point, options, optional fields up to
 * "-", then the type. */
int mountinfo_parse_line(char *line, struct mountinfo_entry *e)
{
	char *s = line;
	if (parse_int(field(&s), &e->id) < 0 || parse_int(field(&s), &e->parent) < 0 ||
	    !field(&s) || !field(&s))
		return -1;
	e->point = field(&s);
	if (!e->point || e->point[0] != '/' || !field(&s))
		return -1;
	for (char *f; (f = field(&s));) {
		if (!strcmp(f, "-")) {
			e->fstype = field(&s);
			if (!e->fstype || !*e->fstype)
				return -1;
			mount_unescape(e->point);
			mount_unescape(e->fstype);
			return 0;
		}
	}
	return -1;
}

/* Whether path is dir or below it. */
static int within(const char *path, const char *dir)
{
	const char *rest;
	return rootfs_below(path, dir, &rest);
}

int root_stage_hides(const char *rel, const char *fstype)
{
	if (!strcmp(rel, "/"))
		return 0;
	for (size_t i = 0; pseudo_dirs[i]; i++)
		if (within(rel, pseudo_dirs[i]))
			return 1;
	for (size_t i = 0; pseudo_fs[i]; i++)
		if (!strcmp(fstype, pseudo_fs[i]))
			return 1;
	return 0;
}

/* All of /proc/self/mountinfo, NUL-terminated, in a buffer to free; NULL
 * with errno. Read whole before any mount changes it. */
static char *read_mountinfo(void)
{
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	while (buf) {
		if (len + 1 == cap) {
			char *more = cap < ROOT_STAGE_MOUNTINFO_MAX ? realloc(buf, cap * 2) : NULL;
			if (!more) {
				free(buf);
				buf = NULL;
				errno = cap < ROOT_STAGE_MOUNTINFO_MAX ? ENOMEM : EFBIG;
				break;
			}
			buf = more;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			free(buf);
			buf = NULL;
			errno = saved;
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	return buf;
}

int root_stage_host_visible(const char *path)
{
	char *info = read_mountinfo();
	if (!info)
		return 0;
	int visible = !root_stage_hides(path, "");
	char *save;
	for (char *line = strtok_r(info, "\n", &save); line && visible;
	     line = strtok_r(NULL, "\n", &save)) {
		struct mountinfo_entry e;
		if (mountinfo_parse_line(line, &e) == 0 && within(path, e.point) &&
		    root_stage_hides(e.point, e.fstype))
			visible = 0;
	}
	free(info);
	return visible;
}

/* --- in the VMM's process --- */

/* A mount namespace of this process alone. As root it needs nothing else;
 * anyone else gets a user namespace first, mapping only their own ids
 * (setgroups denied, as the kernel requires for an unprivileged gid map),
 * and their mounts there cannot uncover what the host's mounts cover. */
static int private_namespace(char *err, size_t errlen)
{
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			return err_fail(err, errlen, "unshare a mount namespace: %s",
					strerror(errno));
	} else {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		const char *what;
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return err_fail(err, errlen, "unshare a user and mount namespace: %s",
					strerror(errno));
		if (userns_map_self(uid, gid, &what) < 0)
			return err_fail(err, errlen, "map the user namespace's ids (%s): %s", what,
					strerror(errno));
	}
	/* Nothing done here may reach the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_fail(err, errlen, "make / private: %s", strerror(errno));
	return 0;
}

/* The staging tmpfs, its tree/ and the blanks. */
static int make_staging(const char *staging, char *err, size_t errlen)
{
	char path[ROOTFS_PATH_MAX + 32];
	unsigned long safe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if (mount("wisp-stage", staging, "tmpfs", safe, "mode=0755,size=64k,nr_inodes=16") < 0 ||
	    mount(NULL, staging, NULL, MS_UNBINDABLE, NULL) < 0)
		return err_fail(err, errlen, "mount a tmpfs on %s: %s", staging, strerror(errno));
	snprintf(path, sizeof(path), "%s" ROOT_STAGE_TREE, staging);
	if (mkdir(path, 0755) < 0)
		return err_fail(err, errlen, "mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s" BLANK, staging);
	if (mkdir(path, 0755) < 0 ||
	    mount("wisp-blank", path, "tmpfs", safe, "mode=0755,size=4k,nr_inodes=4") < 0 ||
	    mount(NULL, path, NULL, MS_PRIVATE, NULL) < 0)
		return err_fail(err, errlen, "mount a tmpfs on %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s" BLANK_FILE, staging);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0 || close(fd) < 0)
		return err_fail(err, errlen, "create %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s" BLANK, staging);
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY | safe, NULL) < 0)
		return err_fail(err, errlen, "make %s read-only: %s", path, strerror(errno));
	return 0;
}

/* Read-only, keeping the flags a mount from a more privileged namespace
 * has locked (nosuid, nodev, noexec); atime flags are kept by the kernel
 * when none is given. */
static int make_readonly(const char *point, char *err, size_t errlen)
{
	struct statvfs sv;
	if (statvfs(point, &sv) < 0)
		return err_fail(err, errlen, "statvfs %s: %s", point, strerror(errno));
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	if (sv.f_flag & ST_NOSUID)
		flags |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		flags |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		flags |= MS_NOEXEC;
	if (mount(NULL, point, NULL, flags, NULL) < 0)
		return err_fail(err, errlen, "make %s read-only: %s", point, strerror(errno));
	return 0;
}

/* An empty, read-only directory or file over point. Each directory gets
 * a tmpfs of its own: 9p (multidevs=remap) names a file by its device and
 * inode, and one blank directory bound at /proc, /dev, /sys and /run would
 * be one directory to the guest, whose dentry holds a single mount. */
static int cover(const char *staging, const char *point, int dir, char *err, size_t errlen)
{
	if (dir) {
		if (mount("wisp-blank", point, "tmpfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=0555,size=4k,nr_inodes=2") < 0)
			return err_fail(err, errlen, "cover %s: %s", point, strerror(errno));
		return 0;
	}
	char blank[ROOTFS_PATH_MAX + 32];
	snprintf(blank, sizeof(blank), "%s%s", staging, BLANK_FILE);
	if (mount(blank, point, NULL, MS_BIND, NULL) < 0)
		return err_fail(err, errlen, "cover %s: %s", point, strerror(errno));
	return make_readonly(point, err, errlen);
}

/* One mount of the bound tree: covered, made read-only, or left alone
 * when something else is on top of it (that one has its own line). */
static int settle(const char *staging, const char *tree, const struct mountinfo_entry *e, char *err,
		  size_t errlen)
{
	const char *rel = e->point + strlen(tree);
	struct statx stx;
	if (statx(AT_FDCWD, e->point, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		  STATX_MNT_ID | STATX_TYPE, &stx) < 0) {
		/* Under a mount covered already: out of reach, as it should be. */
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return err_fail(err, errlen, "stat %s: %s", e->point, strerror(errno));
	}
	if (!(stx.stx_mask & STATX_MNT_ID))
		return err_fail(err, errlen, "stat %s: the kernel gives no mount ID", e->point);
	if (stx.stx_mnt_id != (unsigned long long)e->id)
		return 0;
	if (root_stage_hides(*rel ? rel : "/", e->fstype))
		return cover(staging, e->point, S_ISDIR(stx.stx_mode), err, errlen);
	return make_readonly(e->point, err, errlen);
}

/* tree/dir covered even when it is no mount of its own: a host's /run
 * may be a plain directory with its sockets and pid files in it. A link
 * there is left alone: the guest follows it in its own tree. */
static int cover_dir(const char *staging, const char *tree, const char *dir, char *err,
		     size_t errlen)
{
	char path[ROOTFS_PATH_MAX + 64];
	struct stat st;
	snprintf(path, sizeof(path), "%s%s", tree, dir);
	if (lstat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (lstat(path, &st) < 0)
		return err_fail(err, errlen, "stat %s: %s", path, strerror(errno));
	return S_ISDIR(st.st_mode) ? cover(staging, path, 1, err, errlen) : 0;
}

int root_stage_build(const char *source, const char *staging, char *err, size_t errlen)
{
	char tree[ROOTFS_PATH_MAX + 32];
	if (private_namespace(err, errlen) < 0 || make_staging(staging, err, errlen) < 0)
		return -1;
	snprintf(tree, sizeof(tree), "%s" ROOT_STAGE_TREE, staging);
	/* Recursive: a user namespace may not bind a mount without the
	 * mounts locked on it; what must not be seen is covered below. */
	if (mount(source, tree, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_fail(err, errlen, "bind %s on %s: %s", source, tree, strerror(errno));
	char *info = read_mountinfo();
	if (!info)
		return err_fail(err, errlen, "read /proc/self/mountinfo: %s", strerror(errno));
	int rc = 0, n = 0;
	char *save;
	for (char *line = strtok_r(info, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		struct mountinfo_entry e;
		if (mountinfo_parse_line(line, &e) < 0) {
			rc = err_fail(err, errlen,
				      "/proc/self/mountinfo: cannot read the line '%.80s'", line);
		} else if (within(e.point, tree)) {
			if (++n > ROOT_STAGE_MOUNTS)
				rc = err_fail(err, errlen, "%s has more than %d mounts", source,
					      ROOT_STAGE_MOUNTS);
			else
				rc = settle(staging, tree, &e, err, errlen);
		}
	}
	free(info);
	for (size_t i = 0; rc == 0 && pseudo_dirs[i]; i++)
		rc = cover_dir(staging, tree, pseudo_dirs[i], err, errlen);
	if (rc == 0 && mount(NULL, staging, NULL,
			     MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		rc = err_fail(err, errlen, "make %s read-only: %s", staging, strerror(errno));
	return rc;
}

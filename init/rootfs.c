#include "rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "etc_files.h"
#include "log.h"
#include "shares.h"

/* Where the parts of the new root are mounted inside the initramfs. The
 * layers stay there, hidden under the new root, for as long as the VM runs. */
#define STAGE "/.wisp"
#define LOWER STAGE "/lower"
#define RW STAGE "/rw"
#define NEWROOT STAGE "/root"

/* devtmpfs has the node once virtio-blk probed, which the kernel does
 * before it starts init; this only covers a slow asynchronous probe. */
#define BLOCK_WAIT_MS 2000
/* The initramfs is a flat tree: deeper than this is not ours to walk. */
#define DELETE_DEPTH_MAX 16

#define RAMFS_MAGIC 0x858458f6
#define TMPFS_MAGIC 0x01021994
#define OVERLAYFS_MAGIC 0x794c7630

static const char *const kind_names[] = {
	[ROOT_NONE] = "none", [ROOT_9P] = "9p", [ROOT_VIRTIOFS] = "virtiofs", [ROOT_BLK] = "block"
};

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	log_warn("mkdir %s: %s", path, strerror(errno));
	return -1;
}

static int wait_for_node(const char *path)
{
	struct stat st;
	for (int waited = 0; stat(path, &st) < 0; waited++) {
		if (errno != ENOENT || waited * 2 >= BLOCK_WAIT_MS)
			return -1;
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	return 0;
}

/* The root's own filesystem, at `at`. */
static int mount_source(const struct root *r, const char *at)
{
	unsigned long flags = r->ro ? MS_RDONLY : 0;
	int rc;
	if (r->kind == ROOT_9P) {
		char opts[128];
		snprintf(opts, sizeof(opts), "trans=virtio,version=9p2000.L,msize=%d,cache=%s",
			 SHARE_9P_MSIZE, r->opt);
		rc = mount(r->source, at, "9p", flags, opts);
	} else if (r->kind == ROOT_VIRTIOFS) {
		rc = mount(r->source, at, "virtiofs", flags, NULL);
	} else {
		char dev[64];
		snprintf(dev, sizeof(dev), "/dev/%s", r->source);
		rc = wait_for_node(dev);
		if (rc == 0)
			rc = mount(dev, at, r->opt, flags, NULL);
	}
	if (rc == 0)
		return 0;
	const char *why = strerror(errno);
	if (r->kind == ROOT_BLK && (errno == EINVAL || errno == EIO || errno == EUCLEAN))
		why = "the image is damaged or not of that type";
	else if (r->kind != ROOT_BLK && (errno == ENOENT || errno == ENODEV))
		why = "no such tag";
	log_warn("cannot mount the root (%s %s%s%s): %s", kind_names[r->kind], r->source,
		 r->kind == ROOT_BLK ? " as " : "", r->kind == ROOT_BLK ? r->opt : "", why);
	return -1;
}

/* Writes to a read-only root land in a tmpfs. It must be a tmpfs (with
 * xattrs) rather than the initramfs: overlayfs marks directories opaque
 * with an xattr, and the upper layer must be freed with the VM. */
static int mount_overlay(void)
{
	if (mount("wisp-rw", RW, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		log_warn("mount tmpfs on %s: %s", RW, strerror(errno));
		return -1;
	}
	if (make_dir(RW "/upper") < 0 || make_dir(RW "/work") < 0)
		return -1;
	if (mount("overlay", NEWROOT, "overlay", 0,
		  "lowerdir=" LOWER ",upperdir=" RW "/upper,workdir=" RW "/work") < 0) {
		log_warn("mount overlay on the root: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* PID 1's filesystems go into the new root as they are (with what is
 * mounted below them: /dev/pts, /dev/shm, /sys/fs/cgroup). */
static int move_basics(int overlay)
{
	static const char *const paths[] = { "/dev", "/proc", "/sys", "/run", "/tmp" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char target[64];
		snprintf(target, sizeof(target), NEWROOT "%s", paths[i]);
		struct stat st;
		/* A symlink here (an image's /run -> /var/run) would lead the
		 * move out of the new root. On the overlay it is only hidden. */
		if (lstat(target, &st) == 0 && !S_ISDIR(st.st_mode)) {
			if (!overlay || unlink(target) < 0) {
				log_warn("the root's %s is not a directory", paths[i]);
				return -1;
			}
		}
		if (make_dir(target) < 0)
			return -1;
		if (mount(paths[i], target, NULL, MS_MOVE, NULL) < 0) {
			log_warn("move %s into the root: %s", paths[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Deletes what dirfd holds on device dev, never crossing into another
 * filesystem (a mount point has another st_dev). Closes dirfd. */
static void delete_tree(int dirfd, dev_t dev, int depth)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth >= DELETE_DEPTH_MAX)
				continue;
			int fd = openat(dirfd, e->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				delete_tree(fd, dev, depth + 1);
			/* Fails on the stage, which holds mount points: kept. */
			unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dirfd, e->d_name, 0);
		}
	}
	closedir(d);
}

/* The initramfs' files are RAM the new root will never use; as
 * switch_root(8) does, they go, but only on a RAM filesystem, so that a
 * wisp-init started from a disk can never empty that disk. */
static void free_initramfs(void)
{
	struct statfs fs;
	struct stat st;
	if (statfs("/", &fs) < 0 || (fs.f_type != RAMFS_MAGIC && fs.f_type != TMPFS_MAGIC) ||
	    stat("/", &st) < 0)
		return;
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		delete_tree(fd, st.st_dev, 0);
}

/* Replaces path with a new file holding text: never through a link the
 * image holds there. */
/* Who this machine is comes from the VM, not from the image: written to
 * the overlay at each boot (/etc/hosts and resolv.conf too, by
 * etc_write_network()). An empty machine-id makes systemd make up one for
 * this boot. */
static void write_identity(const struct config *c)
{
	if (make_dir("/etc") < 0)
		return;
	char text[256];
	snprintf(text, sizeof(text), "%s\n", c->hostname);
	etc_put_file("/etc/hostname", text);
	etc_put_file("/etc/machine-id", "");
}

/* What will be run must exist in the new root, or nothing runs. */
static int check_runnable(const struct config *c)
{
	if (c->init && access(c->init, X_OK) < 0) {
		log_warn("--init %s: %s in the root", c->init, strerror(errno));
		return -1;
	}
	if (!c->init && !c->argv[0] && c->io != IO_VSOCK && access("/bin/sh", X_OK) < 0) {
		log_warn("the root has no /bin/sh for a shell: give a command to run");
		return -1;
	}
	return 0;
}

int rootfs_switch(const struct config *c)
{
	const struct root *r = &c->root;
	if (r->kind == ROOT_NONE)
		return 0;
	if (make_dir(STAGE) < 0 || make_dir(LOWER) < 0 || make_dir(RW) < 0 || make_dir(NEWROOT) < 0)
		return -1;
	if (mount_source(r, r->ro ? LOWER : NEWROOT) < 0)
		return -1;
	if (r->ro && mount_overlay() < 0)
		return -1;
	if (move_basics(r->ro) < 0)
		return -1;
	free_initramfs();
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0) {
		log_warn("switch to the new root: %s", strerror(errno));
		return -1;
	}
	if (r->ro)
		write_identity(c);
	return check_runnable(c);
}

void rootfs_seal(void)
{
	struct statfs fs;
	if (statfs("/", &fs) < 0 || (fs.f_flags & ST_RDONLY) || fs.f_type == RAMFS_MAGIC ||
	    fs.f_type == TMPFS_MAGIC || fs.f_type == OVERLAYFS_MAGIC)
		return;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		log_warn("remount the root read-only: %s", strerror(errno));
}

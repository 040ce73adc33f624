/* Unit tests of --rootfs (boot/rootfs.c, boot/root_stage.c): an image's
 * type from its superblock, the checks of a source (each bad one refused
 * with its reason), -w's default through volumes, and the mountinfo lines
 * and choices from which a shared root's staging tree is built. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../boot/root_stage.h"
#include "../../boot/rootfs.h"
#include "check.h"

static void put_le(unsigned char *buf, size_t at, unsigned long v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		buf[at + i] = (unsigned char)(v >> (8 * i));
}

static void test_detect_each_superblock(void)
{
	unsigned char buf[ROOTFS_PROBE_SIZE];
	memset(buf, 0, sizeof(buf));
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_UNKNOWN);
	put_le(buf, 1080, 0xEF53, 2);
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_EXT4);
	/* The magic must be whole inside what was read. */
	CHECK_INT(rootfs_detect(buf, 1081), ROOTFS_FS_UNKNOWN);
	CHECK_INT(rootfs_detect(buf, 1082), ROOTFS_FS_EXT4);

	memset(buf, 0, sizeof(buf));
	put_le(buf, 1024, 0xE0F5E1E2, 4);
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_EROFS);
	CHECK_INT(rootfs_detect(buf, 1027), ROOTFS_FS_UNKNOWN);

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "hsqs", 4);
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_SQUASHFS);
	CHECK_INT(rootfs_detect(buf, 3), ROOTFS_FS_UNKNOWN);
	CHECK_INT(rootfs_detect(buf, 0), ROOTFS_FS_UNKNOWN);
	/* Big-endian squashfs ("sqsh") is not what Linux mounts. */
	memcpy(buf, "sqsh", 4);
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_UNKNOWN);
	/* ext4's magic byte-swapped, or one byte off, is not ext4. */
	memset(buf, 0, sizeof(buf));
	put_le(buf, 1080, 0x53EF, 2);
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_UNKNOWN);
	memset(buf, 0, sizeof(buf));
	put_le(buf, 1081, 0xEF53, 2);
	CHECK_INT(rootfs_detect(buf, sizeof(buf)), ROOTFS_FS_UNKNOWN);

	CHECK_STR(rootfs_fstype_name(ROOTFS_FS_EXT4), "ext4");
	CHECK_STR(rootfs_fstype_name(ROOTFS_FS_EROFS), "erofs");
	CHECK_STR(rootfs_fstype_name(ROOTFS_FS_SQUASHFS), "squashfs");
	CHECK_STR(rootfs_fstype_name(ROOTFS_FS_UNKNOWN), NULL);
}

static char tmp[64];

static void write_at(const char *name, const void *data, size_t len, off_t at, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(ftruncate(fd, ROOTFS_PROBE_SIZE) == 0);
	CHECK(pwrite(fd, data, len, at) == (ssize_t)len);
	close(fd);
}

/* rootfs_check() on tmp/name: its status, and the reason in err. */
static int check(const char *name, int rw, int needs_shell, struct rootfs *r, char *err,
		 size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!strcmp(name, "host"))
		snprintf(r->source_buf, sizeof(r->source_buf), "host");
	else
		snprintf(r->source_buf, sizeof(r->source_buf), "%s/%s", tmp, name);
	r->source = r->source_buf;
	r->rw = rw;
	err[0] = '\0';
	return rootfs_check(r, needs_shell, err, errlen);
}

static void mkdirs(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	CHECK(mkdir(path, 0755) == 0);
}

static void link_at(const char *target, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	CHECK(symlink(target, path) == 0);
}

static void test_check_sources(void)
{
	struct rootfs r;
	char err[512];
	unsigned char ext4[2] = { 0x53, 0xEF };
	write_at("ext4.img", ext4, 2, 1080, 0644);
	write_at("sq.img", "hsqs", 4, 0, 0644);
	write_at("zero.img", "", 0, 0, 0644);

	CHECK_INT(check("ext4.img", 0, 1, &r, err, sizeof(err)), 0);
	CHECK_INT(r.kind, ROOTFS_IMAGE);
	CHECK_INT(r.fstype, ROOTFS_FS_EXT4);
	CHECK(r.path[0] == '/');
	CHECK_INT(check("ext4.img", 1, 0, &r, err, sizeof(err)), 0);
	CHECK_INT(r.rw, 1);

	CHECK_INT(check("sq.img", 0, 0, &r, err, sizeof(err)), 0);
	CHECK_INT(r.fstype, ROOTFS_FS_SQUASHFS);
	CHECK_INT(check("sq.img", 1, 0, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "only ext4") != NULL);

	CHECK_INT(check("zero.img", 0, 0, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "not an ext4, erofs or squashfs image") != NULL);
	CHECK_INT(check("missing", 0, 0, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "No such file") != NULL);
	CHECK(strchr(err, '\n') == NULL);

	/* A directory: :rw refused; /bin/sh only when a shell is wanted, and
	 * found through links resolved inside the root. */
	mkdirs("d");
	CHECK_INT(check("d", 0, 0, &r, err, sizeof(err)), 0);
	CHECK_INT(r.kind, ROOTFS_DIR);
	CHECK_INT(check("d", 0, 1, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "/bin/sh") != NULL);
	CHECK_INT(check("d", 1, 0, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, ":rw") != NULL);
	mkdirs("d/usr");
	mkdirs("d/usr/bin");
	write_at("d/usr/bin/sh", "#!", 2, 0, 0755);
	link_at("/usr/bin", "d/bin"); /* absolute: means d/usr/bin in the guest */
	CHECK_INT(check("d", 0, 1, &r, err, sizeof(err)), 0);

	/* A link that leaves the root ends inside it: the host's shell is not
	 * the root's. */
	mkdirs("e");
	mkdirs("e/bin");
	link_at("../../../../../../bin/sh", "e/bin/sh");
	CHECK_INT(check("e", 0, 1, &r, err, sizeof(err)), -1);
	/* Not executable is no shell either. */
	mkdirs("f");
	mkdirs("f/bin");
	write_at("f/bin/sh", "#!", 2, 0, 0644);
	CHECK_INT(check("f", 0, 1, &r, err, sizeof(err)), -1);

	CHECK_INT(check("host", 0, 0, &r, err, sizeof(err)), 0);
	CHECK_INT(r.kind, ROOTFS_HOST);
	CHECK_STR(r.path, "/");
	CHECK_INT(check("host", 1, 0, &r, err, sizeof(err)), -1);

	/* No --rootfs: nothing to check. */
	memset(&r, 0, sizeof(r));
	CHECK_INT(rootfs_check(&r, 1, err, sizeof(err)), 0);
	CHECK_INT(r.kind, ROOTFS_NONE);
}

static void test_workdir_through_volumes(void)
{
	struct rootfs_mapping maps[] = { { "/home/u/src", "/src" },
					 { "/home/u/src/deep", "/deep" },
					 { "/", "/host" } };
	char out[256];
	CHECK_INT(rootfs_workdir("/home/u/src", maps, 1, 0, out, sizeof(out)), 1);
	CHECK_STR(out, "/src");
	CHECK_INT(rootfs_workdir("/home/u/src/a/b", maps, 1, 0, out, sizeof(out)), 1);
	CHECK_STR(out, "/src/a/b");
	/* A sibling whose name starts the same is not below it. */
	CHECK_INT(rootfs_workdir("/home/u/srcx", maps, 1, 0, out, sizeof(out)), 0);
	CHECK_INT(rootfs_workdir("/home/u/srcx", maps, 1, 1, out, sizeof(out)), 1);
	CHECK_STR(out, "/home/u/srcx");
	/* The guest has its own /tmp (and /run, /dev, ...): no default there. */
	CHECK_INT(rootfs_workdir("/tmp/ci", maps, 1, 1, out, sizeof(out)), 0);
	CHECK_INT(rootfs_workdir("/tmpx", maps, 1, 1, out, sizeof(out)), 1);
	CHECK_STR(out, "/tmpx");
	/* The most specific volume wins, whatever the order. */
	CHECK_INT(rootfs_workdir("/home/u/src/deep/x", maps, 2, 0, out, sizeof(out)), 1);
	CHECK_STR(out, "/deep/x");
	CHECK_INT(rootfs_workdir("/etc", maps, 3, 0, out, sizeof(out)), 1);
	CHECK_STR(out, "/host/etc");
	CHECK_INT(rootfs_workdir("/", maps, 3, 0, out, sizeof(out)), 1);
	CHECK_STR(out, "/host");
	CHECK_INT(rootfs_workdir("/home/u/src/a", maps, 1, 0, out, 5), -1);
	CHECK_INT(rootfs_workdir("/x", maps, 0, 0, out, sizeof(out)), 0);
}

static void test_mountinfo_lines(void)
{
	struct mountinfo_entry e;
	char l1[] = "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root "
		    "rw,errors=continue";
	CHECK_INT(mountinfo_parse_line(l1, &e), 0);
	CHECK_INT(e.id, 36);
	CHECK_INT(e.parent, 35);
	CHECK_STR(e.point, "/mnt two");
	CHECK_STR(e.fstype, "ext3");
	char l2[] = "22 27 0:21 / /proc rw,relatime - proc proc rw";
	CHECK_INT(mountinfo_parse_line(l2, &e), 0);
	CHECK_STR(e.point, "/proc");
	CHECK_STR(e.fstype, "proc");
	char l3[] = "1 2 0:1 / /a\\011b\\012c\\134d rw - tmpfs x rw";
	CHECK_INT(mountinfo_parse_line(l3, &e), 0);
	CHECK_STR(e.point, "/a\tb\nc\\d");
	/* Not an escape: kept as it is. */
	char l4[] = "1 2 0:1 / /a\\9x rw - ext4 x rw";
	CHECK_INT(mountinfo_parse_line(l4, &e), 0);
	CHECK_STR(e.point, "/a\\9x");
	char bad1[] = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1";
	CHECK_INT(mountinfo_parse_line(bad1, &e), -1);
	char bad2[] = "x 35 98:0 / / rw - ext4 a b";
	CHECK_INT(mountinfo_parse_line(bad2, &e), -1);
	char bad3[] = "";
	CHECK_INT(mountinfo_parse_line(bad3, &e), -1);
	char bad4[] = "1 2 0:1 / relative rw - ext4 a b";
	CHECK_INT(mountinfo_parse_line(bad4, &e), -1);
	char bad5[] = "1 2 0:1 / /x rw -";
	CHECK_INT(mountinfo_parse_line(bad5, &e), -1);
}

static void test_what_is_covered(void)
{
	CHECK_INT(root_stage_hides("/", "tmpfs"), 0); /* the root asked for */
	CHECK_INT(root_stage_hides("/", "overlay"), 0);
	CHECK_INT(root_stage_hides("/proc", "proc"), 1);
	CHECK_INT(root_stage_hides("/proc/sys/fs/binfmt_misc", "binfmt_misc"), 1);
	CHECK_INT(root_stage_hides("/run/media/usb", "ext4"), 1);
	CHECK_INT(root_stage_hides("/dev", "devtmpfs"), 1);
	CHECK_INT(root_stage_hides("/sys", "ext4"), 1);
	CHECK_INT(root_stage_hides("/tmp", "tmpfs"), 1);
	CHECK_INT(root_stage_hides("/srv/cg", "cgroup2"), 1);
	CHECK_INT(root_stage_hides("/home", "ext4"), 0);
	CHECK_INT(root_stage_hides("/var/lib/x", "overlay"), 0);
	CHECK_INT(root_stage_hides("/snap/core/1", "squashfs"), 0);
	CHECK_INT(root_stage_hides("/runner", "ext4"), 0); /* not /run */
	CHECK_INT(root_stage_hides("/process", "xfs"), 0);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_rootfs-XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_detect_each_superblock();
	test_check_sources();
	test_workdir_through_volumes();
	test_mountinfo_lines();
	test_what_is_covered();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmp);
	return check_summary("test_rootfs");
}

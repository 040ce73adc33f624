#include "mounts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "../common/mount_escape.h"
#include "log.h"

struct basic_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
	int optional; /* the kernel may lack it: no warning */
};

#define NOSUID_NODEV (MS_NOSUID | MS_NODEV)

static const struct basic_mount basics[] = {
	{ "proc", "/proc", "proc", NOSUID_NODEV | MS_NOEXEC, NULL, 0 },
	{ "sysfs", "/sys", "sysfs", NOSUID_NODEV | MS_NOEXEC, NULL, 0 },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0 },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666,gid=5",
	  0 },
	{ "shm", "/dev/shm", "tmpfs", NOSUID_NODEV, "mode=1777", 0 },
	{ "run", "/run", "tmpfs", NOSUID_NODEV, "mode=0755", 0 },
	{ "tmp", "/tmp", "tmpfs", NOSUID_NODEV, "mode=1777", 0 },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", NOSUID_NODEV | MS_NOEXEC, NULL, 1 },
};

static void mount_one(const struct basic_mount *m)
{
	if (mkdir(m->target, 0755) < 0 && errno != EEXIST) {
		log_warn("mkdir %s: %s", m->target, strerror(errno));
		return;
	}
	if (mount(m->source, m->target, m->type, m->flags, m->data) == 0)
		return;
	/* devtmpfs may be mounted by the kernel already (DEVTMPFS_MOUNT). */
	if (errno == EBUSY)
		return;
	if (!(m->optional && errno == ENODEV))
		log_warn("mount %s on %s: %s", m->type, m->target, strerror(errno));
}

void mount_basics(void)
{
	for (size_t i = 0; i < sizeof(basics) / sizeof(basics[0]); i++)
		mount_one(&basics[i]);
}

#define MAX_MOUNTS 64

/* Filesystems that hold nothing once the VM is gone: unmounting them only
 * costs time (under TCG, most of the shutdown's). */
static int memory_only(const char *type)
{
	static const char *const types[] = { "proc",     "sysfs",     "devtmpfs", "devpts",
					     "tmpfs",    "ramfs",     "cgroup",   "cgroup2",
					     "mqueue",   "debugfs",   "tracefs",  "bpf",
					     "configfs", "securityfs" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i]))
			return 1;
	return 0;
}

void unmount_all(void)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	if (!f) {
		log_warn("open /proc/self/mounts: %s", strerror(errno));
		return;
	}
	static char targets[MAX_MOUNTS][256];
	int n = 0;
	char line[1024];
	while (n < MAX_MOUNTS && fgets(line, sizeof(line), f)) {
		char target[256], type[32];
		if (sscanf(line, "%*s %255s %31s", target, type) == 2 && strcmp(target, "/") &&
		    !memory_only(type)) {
			mount_unescape(target);
			strcpy(targets[n++], target);
		}
	}
	fclose(f);
	/* In reverse: what is mounted on top goes first. */
	for (int i = n - 1; i >= 0; i--) {
		if (umount2(targets[i], 0) == 0 || errno == EINVAL || errno == ENOENT)
			continue;
		/* Busy: keep the data safe by making it read-only at least. */
		if (mount(NULL, targets[i], NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
			log_warn("umount %s: %s", targets[i], strerror(errno));
	}
}

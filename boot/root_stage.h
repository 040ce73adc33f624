/* The tree QEMU shares as the guest's root for --rootfs host and DIR,
 * built in a mount namespace of the VMM's process alone: the source
 * bound recursively, every mount in it read-only, and every pseudo
 * filesystem (the host's /proc, /sys, /dev, /run, tmpfs, ...) covered by
 * an empty read-only one. Exporting the host's / itself would hand a guest
 * /proc/kcore and every process's environment, even through a second
 * mount of the tag; QEMU, whatever the guest asks, sees only this tree.
 *
 * Layout, inside the namespace (outside, STAGING is an empty directory of
 * the VM's runtime directory, removed with it):
 *   STAGING        a small tmpfs, unbindable so that no bind copies it
 *   STAGING/tree   the source, bound recursively: what QEMU exports
 *   STAGING/blank  a read-only tmpfs with an empty directory and file,
 *                  bound over every mount that must not be seen */
#ifndef WISP_ROOT_STAGE_H
#define WISP_ROOT_STAGE_H

#include <stddef.h>

#define ROOT_STAGE_DIR "rootfs"  /* in the VM's runtime directory */
#define ROOT_STAGE_TREE "/tree"  /* below it: the path QEMU exports */
#define ROOT_STAGE_MOUNTS 100000 /* more mounts than this: refused */
#define ROOT_STAGE_MOUNTINFO_MAX (16 << 20)

/* One line of /proc/self/mountinfo, split in place. */
struct mountinfo_entry {
	int id, parent;
	char *point;  /* the mount point, its \ooo escapes decoded */
	char *fstype; /* after the " - " */
};

/* Splits line (without its newline) into e. 0, or -1 when it is not a
 * mountinfo line: pure. */
int mountinfo_parse_line(char *line, struct mountinfo_entry *e);
/* Whether a mount at rel (its mount point, relative to the shared root)
 * of type fstype is covered rather than shared: pure. The root itself
 * (rel "/") is what the user asked for and is never covered. */
int root_stage_hides(const char *rel, const char *fstype);
/* Whether the host's path would be seen in a share of the host's /:
 * no mount at it or above it is covered. Reads /proc/self/mountinfo; 1 or
 * 0 (also when it cannot tell). */
int root_stage_host_visible(const char *path);
/* In the VMM's process, before exec: a private mount namespace (with a
 * user namespace of the caller's own ids when not root) and the tree of
 * source at staging ROOT_STAGE_TREE. 0, or -1 with one line in err. Only
 * for a single-threaded process after fork. */
int root_stage_build(const char *source, const char *staging, char *err, size_t errlen);

#endif

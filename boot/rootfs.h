/* --rootfs SOURCE: which root the guest gets, decided and checked on the
 * host before anything starts. The host's own / and a directory are shared
 * read-only over 9p (from a staging tree, root_stage.h); a disk image is the
 * guest's only virtio-blk device. What the guest does with it (overlay,
 * switch, --init) is wisp-init's (docs: shared-notes/rootfs-contract.md). */
#ifndef WISP_ROOTFS_H
#define WISP_ROOTFS_H

#include <stddef.h>

enum rootfs_kind { ROOTFS_NONE, ROOTFS_HOST, ROOTFS_DIR, ROOTFS_IMAGE };
enum rootfs_fstype { ROOTFS_FS_UNKNOWN, ROOTFS_FS_EXT4, ROOTFS_FS_EROFS, ROOTFS_FS_SQUASHFS };

/* The 9p tag of a shared root, and its cache mode: the tree is read-only,
 * so the guest may keep what it read. */
#define ROOTFS_TAG "wisproot"
#define ROOTFS_9P_CACHE "loose"
/* How much of an image's start holds every superblock rootfs_detect() reads. */
#define ROOTFS_PROBE_SIZE 4096
#define ROOTFS_PATH_MAX 4096 /* PATH_MAX */

struct rootfs {
	const char *source; /* --rootfs as given, ":rw" cut off; NULL: the initramfs */
	char source_buf[ROOTFS_PATH_MAX]; /* where source is kept */
	int rw;                           /* ":rw": an ext4 image written through */
	enum rootfs_kind kind;
	enum rootfs_fstype fstype;  /* images only */
	char path[ROOTFS_PATH_MAX]; /* the resolved path: the tree or the image */
};

/* The filesystem whose superblock starts buf (the first len bytes of an
 * image): pure. */
enum rootfs_fstype rootfs_detect(const unsigned char *buf, size_t len);
/* "ext4", "erofs", "squashfs", or NULL for unknown. */
const char *rootfs_fstype_name(enum rootfs_fstype t);
/* Whether the root is a tree shared over 9p (the host's / or a directory). */
int rootfs_is_tree(const struct rootfs *r);
/* Classifies r->source, resolves it once into r->path and checks it: it
 * exists and is readable, an image is of a known type, ":rw" is only on
 * ext4, and a tree has an executable /bin/sh when needs_shell. 0, or -1
 * with one line in err. */
int rootfs_check(struct rootfs *r, int needs_shell, char *err, size_t errlen);

/* Whether path is dir or below it; the rest of path (after dir) in *rest. */
int rootfs_below(const char *path, const char *dir, const char **rest);

/* A host directory shared with the guest, for rootfs_workdir(). */
struct rootfs_mapping {
	const char *host;  /* resolved */
	const char *guest; /* normalized */
};
/* The guest's path for the host's cwd: through the mapping whose host
 * directory holds it (the longest), else cwd itself when host_root. 1 with
 * the path in out, 0 when there is none, -1 when it does not fit: pure. */
int rootfs_workdir(const char *cwd, const struct rootfs_mapping *maps, size_t n, int host_root,
		   char *out, size_t size);

#endif

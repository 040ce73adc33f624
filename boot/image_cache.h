/* Where `wisp image` keeps what it built and what it downloaded:
 *   IMAGES/KEY/image.FORMAT, IMAGES/KEY/image.lock   one entry per build key
 *   IMAGES/names/NAME -> ../KEY                      what `--rootfs NAME` boots
 *   IMAGES/tmp/build.XXXXXX/                          builds under way
 *   DEBS/NAME_VERSION_ARCH.deb                        the package cache
 * IMAGES is $WISP_IMAGE_CACHE, else $XDG_CACHE_HOME/wisp/images, else
 * ~/.cache/wisp/images; DEBS is $WISP_DEB_CACHE, else .../wisp/debs. An
 * entry appears by one rename() of a finished directory, so an interrupted
 * build leaves none; a build directory whose lock nobody holds is a
 * leftover and the next build removes it. */
#ifndef WISP_IMAGE_CACHE_H
#define WISP_IMAGE_CACHE_H

#include <limits.h>
#include <stddef.h>

#include "proc_run.h"

#define IMAGE_KEY_LEN 64 /* sha256, hex */

/* Short enough that every path under it fits in PATH_MAX. */
#define IMAGE_CACHE_PATH_MAX (PATH_MAX - 512)

struct image_cache {
	char images[IMAGE_CACHE_PATH_MAX];
	char debs[IMAGE_CACHE_PATH_MAX];
};

/* Finds and creates the directories. 0, or -1 with one line in err. */
int image_cache_open(struct image_cache *c, char *err, size_t errlen);

/* IMAGES/KEY and the image in it: 1 if a finished entry holds one. */
int image_cache_lookup(const struct image_cache *c, const char *key, const char *format,
		       char *image, size_t size);
/* The key NAME points at: 1 with it in key (IMAGE_KEY_LEN + 1), else 0. */
int image_cache_name(const struct image_cache *c, const char *name, char *key);
/* Points NAME at KEY (replacing what it pointed at): 0 or -1 (errno). */
int image_cache_set_name(const struct image_cache *c, const char *name, const char *key);
/* Drops NAME, and its entry when no other name points at it: 0, -1. */
int image_cache_remove_name(struct proc_guard *g, const struct image_cache *c, const char *name);
/* Calls fn for every name, in order. */
void image_cache_each_name(const struct image_cache *c,
			   void (*fn)(const char *name, const char *key, void *ctx), void *ctx);

/* A fresh build directory, locked for as long as this process and its
 * children live (the lock fd is inherited on purpose); leftovers of
 * builds that died are removed first. 0 with the lock fd in *lock_fd. */
int image_cache_begin(struct proc_guard *g, const struct image_cache *c, char *dir, size_t size,
		      int *lock_fd, char *err, size_t errlen);
/* Moves the finished entry directory into IMAGES/KEY; an existing entry
 * is kept unless replace (then it is swapped out and removed). 0, -1. */
int image_cache_commit(struct proc_guard *g, const struct image_cache *c, const char *entry,
		       const char *key, int replace, char *err, size_t errlen);

/* rm -rf that never leaves path's file system (a dead build may have left
 * a mount behind). */
int image_remove_tree(struct proc_guard *g, const char *path);

#endif

/* Building a Debian root into an image whose bytes depend only on its
 * spec and package versions: resolve the packages (mmdebstrap --simulate
 * against the mirror), fetch what the package cache lacks, serve exactly
 * those packages from a local repository, let mmdebstrap install them
 * with SOURCE_DATE_EPOCH fixed, strip what a build would leave of its
 * host and day, and turn the tar it makes into the image. */
#ifndef WISP_IMAGE_BUILD_H
#define WISP_IMAGE_BUILD_H

#include <limits.h>
#include <stddef.h>

#include "image_cache.h"
#include "image_spec.h"
#include "proc_run.h"

struct image_request {
	struct image_spec *spec; /* completed with what the build resolves */
	const struct image_cache *cache;
	struct proc_guard *guard;
	int quiet;   /* no progress lines */
	int rebuild; /* build even when the cache has the key */
	/* NULL: the result goes into the cache. Else a directory the caller
	 * made and will remove: the build happens there and the cache's
	 * entries are not touched (what `verify` needs). */
	const char *scratch;
};

struct image_result {
	char path[PATH_MAX]; /* the image (or directory, or tar) */
	char lock[PATH_MAX]; /* its lock */
	char key[IMAGE_KEY_LEN + 1];
	char sha256[IMAGE_KEY_LEN + 1]; /* empty for a directory */
	int cached;                     /* found, not built */
	double seconds;
};

/* 0; -1 with one line in err; PROC_STOPPED when the user stopped it. */
int image_build(const struct image_request *r, struct image_result *out, char *err, size_t errlen);

/* The sha256 of a file, through sha256sum: 0 or -1. */
int image_file_sha256(struct proc_guard *g, const char *path, char *hex);

#endif

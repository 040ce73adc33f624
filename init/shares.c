#include "shares.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "log.h"

static int mkdir_p(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

static int mount_share(const struct share *sh)
{
	const char *type = sh->fs == SHARE_9P ? "9p" : "virtiofs";
	if (mkdir_p(sh->path) < 0) {
		log_warn("mkdir %s: %s", sh->path, strerror(errno));
		return -1;
	}
	unsigned long flags = MS_NODEV | (sh->ro ? MS_RDONLY : 0);
	char opts[128] = "";
	if (sh->fs == SHARE_9P)
		snprintf(opts, sizeof(opts), "trans=virtio,version=9p2000.L,msize=%d,cache=%s",
			 SHARE_9P_MSIZE, sh->cache);
	if (mount(sh->tag, sh->path, type, flags, opts[0] ? opts : NULL) < 0) {
		/* ENOENT/ENODEV: no device with that tag. */
		log_warn("mount %s tag '%s' on %s: %s", type, sh->tag, sh->path,
			 errno == ENOENT ? "no such tag" : strerror(errno));
		return -1;
	}
	return 0;
}

int mount_shares(const struct config *c)
{
	for (size_t i = 0; i < c->nshares; i++)
		if (mount_share(&c->shares[i]) < 0)
			return -1;
	return 0;
}

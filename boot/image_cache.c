/* The image cache's directories, names and commits (image_cache.h). */
#include "image_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err_text.h"
#include "image_spec.h"

#define BUILD_PREFIX "build."

/* mkdir -p, 0755: the cache holds nothing secret. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
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
		if (!c)
			break;
	}
	return 0;
}

/* The hooks mmdebstrap runs are named by paths under the cache: a path
 * it would hand to sh instead of exec'ing is refused here. */
static int plain_path(const char *p)
{
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("/._+-@", *p)))
			return 0;
	return 1;
}

static int cache_base(const char *env, const char *leaf, char *out, size_t size)
{
	const char *v = getenv(env);
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;
	if (v && *v)
		n = snprintf(out, size, "%s", v);
	else if (xdg && *xdg == '/')
		n = snprintf(out, size, "%s/wisp/%s", xdg, leaf);
	else if (home && *home == '/')
		n = snprintf(out, size, "%s/.cache/wisp/%s", home, leaf);
	else
		return -1;
	return n > 0 && (size_t)n < size - 64 ? 0 : -1;
}

int image_cache_open(struct image_cache *c, char *err, size_t errlen)
{
	if (cache_base("WISP_IMAGE_CACHE", "images", c->images, sizeof(c->images)) < 0 ||
	    cache_base("WISP_DEB_CACHE", "debs", c->debs, sizeof(c->debs)) < 0)
		return err_fail(err, errlen,
				"no cache directory: set HOME, XDG_CACHE_HOME or WISP_IMAGE_CACHE");
	const char *dirs[] = { c->images, c->debs };
	for (size_t i = 0; i < 2; i++) {
		if (dirs[i][0] != '/' || !plain_path(dirs[i]))
			return err_fail(err, errlen,
					"cache directory %s: want an absolute path of letters, "
					"digits and /._+-@ (mmdebstrap runs hooks from it)",
					dirs[i]);
		if (make_dirs(dirs[i]) < 0)
			return err_fail(err, errlen, "cache directory %s: %s", dirs[i],
					strerror(errno));
	}
	char sub[PATH_MAX + 8];
	snprintf(sub, sizeof(sub), "%s/names", c->images);
	if (make_dirs(sub) < 0)
		return err_fail(err, errlen, "cache directory %s: %s", sub, strerror(errno));
	snprintf(sub, sizeof(sub), "%s/tmp", c->images);
	if (make_dirs(sub) < 0)
		return err_fail(err, errlen, "cache directory %s: %s", sub, strerror(errno));
	return 0;
}

static int key_valid(const char *key)
{
	return strlen(key) == IMAGE_KEY_LEN && strspn(key, "0123456789abcdef") == IMAGE_KEY_LEN;
}

int image_cache_lookup(const struct image_cache *c, const char *key, const char *format,
		       char *image, size_t size)
{
	if (!key_valid(key))
		return 0;
	char lock[PATH_MAX + 128];
	snprintf(image, size, "%s/%s/image.%s", c->images, key, format);
	snprintf(lock, sizeof(lock), "%s/%s/image.lock", c->images, key);
	return access(image, F_OK) == 0 && access(lock, R_OK) == 0;
}

int image_cache_name(const struct image_cache *c, const char *name, char *key)
{
	if (!image_name_valid(name))
		return 0;
	char link[PATH_MAX + 128], target[128];
	snprintf(link, sizeof(link), "%s/names/%s", c->images, name);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	/* Only "../KEY": a name is never a way out of the cache. */
	if (strncmp(target, "../", 3) || !key_valid(target + 3))
		return 0;
	memcpy(key, target + 3, IMAGE_KEY_LEN + 1);
	return 1;
}

int image_cache_set_name(const struct image_cache *c, const char *name, const char *key)
{
	char link[PATH_MAX + 128], tmp[PATH_MAX + 160], target[IMAGE_KEY_LEN + 4];
	snprintf(link, sizeof(link), "%s/names/%s", c->images, name);
	snprintf(tmp, sizeof(tmp), "%s/names/.%s.%d", c->images, name, (int)getpid());
	snprintf(target, sizeof(target), "../%s", key);
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return -1;
	if (rename(tmp, link) < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

struct key_use {
	const char *key;
	int uses;
};

static void count_use(const char *name, const char *key, void *ctx)
{
	(void)name;
	struct key_use *u = ctx;
	u->uses += !strcmp(key, u->key);
}

int image_cache_remove_name(struct proc_guard *g, const struct image_cache *c, const char *name)
{
	char key[IMAGE_KEY_LEN + 1], link[PATH_MAX + 128];
	if (!image_cache_name(c, name, key)) {
		errno = ENOENT;
		return -1;
	}
	snprintf(link, sizeof(link), "%s/names/%s", c->images, name);
	if (unlink(link) < 0)
		return -1;
	struct key_use u = { .key = key };
	image_cache_each_name(c, count_use, &u);
	if (u.uses)
		return 0;
	char entry[PATH_MAX + 128];
	snprintf(entry, sizeof(entry), "%s/%s", c->images, key);
	return image_remove_tree(g, entry);
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

void image_cache_each_name(const struct image_cache *c,
			   void (*fn)(const char *name, const char *key, void *ctx), void *ctx)
{
	char dir[PATH_MAX + 8];
	snprintf(dir, sizeof(dir), "%s/names", c->images);
	struct dirent **list;
	int n = scandir(dir, &list, NULL, cmp_names);
	for (int i = 0; i < n; i++) {
		char key[IMAGE_KEY_LEN + 1];
		if (list[i]->d_name[0] != '.' && image_cache_name(c, list[i]->d_name, key))
			fn(list[i]->d_name, key, ctx);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

int image_remove_tree(struct proc_guard *g, const char *path)
{
	char *argv[] = { "rm", "-rf", "--one-file-system", "--", (char *)path, NULL };
	struct proc_cmd cmd = { .argv = argv, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	return proc_run(g, &cmd) == 0 ? 0 : -1;
}

/* Removes build directories whose lock nobody holds. */
static void sweep(struct proc_guard *g, const char *tmp)
{
	DIR *d = opendir(tmp);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, BUILD_PREFIX, strlen(BUILD_PREFIX)))
			continue;
		char path[PATH_MAX + 300], lock[PATH_MAX + 320];
		snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
		snprintf(lock, sizeof(lock), "%s/lock", path);
		int fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd); /* a build under way */
			continue;
		}
		image_remove_tree(g, path);
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
}

int image_cache_begin(struct proc_guard *g, const struct image_cache *c, char *dir, size_t size,
		      int *lock_fd, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s/tmp", c->images);
	sweep(g, tmp);
	if (snprintf(dir, size, "%s/" BUILD_PREFIX "XXXXXX", tmp) >= (int)size || !mkdtemp(dir))
		return err_fail(err, errlen, "build directory in %s: %s", tmp, strerror(errno));
	char lock[PATH_MAX + 16];
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	/* Not close-on-exec: the lock lives as long as any of the build's
	 * processes, so no sweep removes a tree one of them still writes. */
	int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (fd >= 0)
			close(fd);
		return err_fail(err, errlen, "build lock %s: %s", lock, strerror(errno));
	}
	*lock_fd = fd;
	return 0;
}

int image_cache_commit(struct proc_guard *g, const struct image_cache *c, const char *entry,
		       const char *key, int replace, char *err, size_t errlen)
{
	char dest[PATH_MAX + 128];
	snprintf(dest, sizeof(dest), "%s/%s", c->images, key);
	if (rename(entry, dest) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return err_fail(err, errlen, "cache entry %s: %s", dest, strerror(errno));
	if (!replace)
		return 0; /* another build of the same key got there first: same bytes */
	/* Swap: the old entry moves into the build directory, which goes. */
	char old[PATH_MAX + 16];
	snprintf(old, sizeof(old), "%s.old", entry);
	if (rename(dest, old) < 0 || rename(entry, dest) < 0)
		return err_fail(err, errlen, "cache entry %s: %s", dest, strerror(errno));
	image_remove_tree(g, old);
	return 0;
}

/* Unpacking images and finding where two differ (image_diff.h). */
#include "image_diff.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int image_unpack(struct proc_guard *g, const char *format, const char *image, const char *dir)
{
	char arg[PATH_MAX + 32];
	char *argv[12] = { NULL };
	if (!strcmp(format, "squashfs")) {
		char *v[] = { "unsquashfs", "-no-progress", "-quiet", "-d",
			      (char *)dir,  (char *)image,  NULL };
		memcpy(argv, v, sizeof(v));
	} else if (!strcmp(format, "erofs")) {
		snprintf(arg, sizeof(arg), "--extract=%s", dir);
		char *v[] = { "fsck.erofs", arg, (char *)image, NULL };
		memcpy(argv, v, sizeof(v));
	} else if (!strcmp(format, "ext4")) {
		if (mkdir(dir, 0755) < 0)
			return -1;
		snprintf(arg, sizeof(arg), "rdump / %s", dir);
		char *v[] = { "debugfs", "-R", arg, (char *)image, NULL };
		memcpy(argv, v, sizeof(v));
	} else if (!strcmp(format, "tar")) {
		if (mkdir(dir, 0755) < 0)
			return -1;
		char *v[] = { "tar",         "--extract",   "--numeric-owner", "--file",
			      (char *)image, "--directory", (char *)dir,       NULL };
		memcpy(argv, v, sizeof(v));
	} else {
		errno = EINVAL;
		return -1;
	}
	struct proc_cmd c = { .argv = argv, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	int status = proc_run(g, &c);
	return status == PROC_STOPPED ? status : status == 0 ? 0 : -1;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

/* 1 when the two files' bytes differ (or one cannot be read). */
static int contents_differ(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int fb = open(b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	enum { CHUNK = 65536 };
	char *ba = malloc(CHUNK), *bb = malloc(CHUNK);
	int differ = fa < 0 || fb < 0 || !ba || !bb;
	while (!differ) {
		ssize_t na = read(fa, ba, CHUNK);
		ssize_t nb = na > 0 ? read(fb, bb, (size_t)na) : read(fb, bb, 1);
		if (na < 0 || nb < 0 || na != nb || memcmp(ba, bb, (size_t)na))
			differ = 1;
		if (na <= 0)
			break;
	}
	free(ba);
	free(bb);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return differ;
}

/* What differs between two entries of the same name: NULL if nothing. */
static const char *entry_diff(const char *pa, const char *pb)
{
	struct stat a, b;
	if (lstat(pa, &a) < 0 || lstat(pb, &b) < 0)
		return "cannot be read";
	if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
		return "kinds differ";
	if ((a.st_mode & 07777) != (b.st_mode & 07777))
		return "modes differ";
	if (a.st_uid != b.st_uid || a.st_gid != b.st_gid)
		return "owners differ";
	if (!S_ISDIR(a.st_mode) && a.st_mtim.tv_sec != b.st_mtim.tv_sec)
		return "times differ";
	if ((S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) && a.st_rdev != b.st_rdev)
		return "device numbers differ";
	if (S_ISLNK(a.st_mode)) {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t na = readlink(pa, ta, sizeof(ta)), nb = readlink(pb, tb, sizeof(tb));
		if (na != nb || na < 0 || memcmp(ta, tb, (size_t)na))
			return "link targets differ";
	}
	if (S_ISREG(a.st_mode) && (a.st_size != b.st_size || contents_differ(pa, pb)))
		return "contents differ";
	return NULL;
}

/* Walks a/rel and b/rel: 1 with the first difference in out. */
static int walk(const char *a, const char *b, const char *rel, char *out, size_t size)
{
	char da[PATH_MAX], db[PATH_MAX];
	snprintf(da, sizeof(da), "%s%s", a, rel);
	snprintf(db, sizeof(db), "%s%s", b, rel);
	struct dirent **la = NULL, **lb = NULL;
	int na = scandir(da, &la, skip_dots, cmp_names);
	int nb = scandir(db, &lb, skip_dots, cmp_names);
	int found = 0, i = 0, j = 0;
	if (na < 0 || nb < 0) {
		snprintf(out, size, "%s/: cannot be read", rel);
		found = 1;
	}
	while (!found && (i < na || j < nb)) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(la[i]->d_name, lb[j]->d_name);
		const char *name = c <= 0 ? la[i]->d_name : lb[j]->d_name;
		char child[PATH_MAX];
		snprintf(child, sizeof(child), "%s/%s", rel, name);
		if (c != 0) {
			snprintf(out, size, "%s: only in the %s", child,
				 c < 0 ? "first" : "second");
			found = 1;
			break;
		}
		char pa[PATH_MAX * 2], pb[PATH_MAX * 2];
		snprintf(pa, sizeof(pa), "%s%s", a, child);
		snprintf(pb, sizeof(pb), "%s%s", b, child);
		const char *why = entry_diff(pa, pb);
		struct stat st;
		if (why) {
			snprintf(out, size, "%s: %s", child, why);
			found = 1;
		} else if (lstat(pa, &st) == 0 && S_ISDIR(st.st_mode)) {
			found = walk(a, b, child, out, size);
		}
		i++;
		j++;
	}
	for (int k = 0; k < na; k++)
		free(la[k]);
	for (int k = 0; k < nb; k++)
		free(lb[k]);
	free(la);
	free(lb);
	return found;
}

int image_tree_diff(const char *a, const char *b, char *out, size_t size)
{
	const char *why = entry_diff(a, b);
	if (why) {
		snprintf(out, size, "/: %s", why);
		return 1;
	}
	return walk(a, b, "", out, size);
}

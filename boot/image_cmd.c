/* `wisp image`: build, verify, list and remove reproducible Debian roots,
 * and the names `--rootfs` takes (image_cmd.h). */
#include "image_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fd.h"
#include "image_build.h"
#include "image_diff.h"
#include "msg.h"
#include "outcome.h"

#define SPEC_MAX (1 << 20)
#define DEBIAN_PREFIX "debian:"

static const char usage[] =
	"usage: wisp image build [SPEC | debian:SUITE] [OPTIONS]   build (or find) an image\n"
	"       wisp image verify IMAGE | NAME                     rebuild from its lock, compare\n"
	"       wisp image ls                                      list the named images\n"
	"       wisp image rm NAME                                 forget a name (and its image)\n"
	"\n"
	"build options (after SPEC, they override it):\n"
	"  --name NAME          the name `wisp run --rootfs NAME` boots\n"
	"  --suite SUITE        Debian release (default: the host's)\n"
	"  --variant VARIANT    minbase (default), essential, apt, required, important, standard\n"
	"  --package PKG[,PKG]  extra packages (repeatable)\n"
	"  --file HOST:GUEST    copy a host file into the root (repeatable)\n"
	"  --customize SCRIPT   run SCRIPT with /bin/sh in the root after the packages\n"
	"  --format FORMAT      squashfs (default), erofs, ext4, tar or dir\n"
	"  --epoch SECONDS      SOURCE_DATE_EPOCH (default: the newest package's build date)\n"
	"  --mirror URI         Debian mirror (default: the one the host's apt uses)\n"
	"  --security URI|none  security mirror (default: the host's)\n"
	"  -o, --output PATH    also write the image to PATH and its lock to PATH.lock\n"
	"  --rebuild            build even when the cache has it\n"
	"  -q, --quiet          no progress lines\n"
	"\n"
	"A SPEC file holds the same keys, one `key = value` per line; the lock\n"
	"written beside each image is a SPEC with every package version pinned.\n";

static int stop_status(const struct proc_guard *g)
{
	return 128 + (g->signo ? g->signo : 2);
}

static char *read_small(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = malloc(SPEC_MAX + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	size_t n = fread(buf, 1, SPEC_MAX + 1, f);
	int failed = ferror(f);
	fclose(f);
	if (failed || n > SPEC_MAX) {
		free(buf);
		errno = failed ? EIO : EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* A spec or lock file into s; relative paths in it are the file's. */
static int read_spec_file(struct image_spec *s, const char *path)
{
	char *text = read_small(path);
	if (!text) {
		msg_warn("image: %s: %s", path, strerror(errno));
		return -1;
	}
	char *real = realpath(path, NULL);
	char *dir = real ? dirname(real) : ".";
	char err[600];
	int rc = image_spec_parse(s, text, dir, err, sizeof(err));
	if (rc < 0)
		msg_warn("image: %s: %s", path, err);
	free(real);
	free(text);
	return rc;
}

/* The image in a cache entry that a VM can boot, by its format. */
static int entry_image(const struct image_cache *c, const char *key, char *path, size_t size,
		       const char **format)
{
	static const char *const bootable[] = { "squashfs", "erofs", "ext4", "dir", "tar", NULL };
	for (const char *const *f = bootable; *f; f++) {
		if (image_cache_lookup(c, key, *f, path, size)) {
			*format = *f;
			return 1;
		}
	}
	return 0;
}

static void print_size(const char *path, char *out, size_t size)
{
	struct stat st;
	if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%.1f MB", (double)st.st_size / 1e6);
}

/* Copies the built image (and its lock) to -o's path, through a
 * temporary name: the path holds the old or the new, never half. */
static int write_output(struct proc_guard *g, const struct image_result *res, const char *fmt,
			const char *output)
{
	char tmp[PATH_MAX + 32], lock[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.wisp-tmp.%d", output, (int)getpid());
	snprintf(lock, sizeof(lock), "%s.lock", output);
	int dir = !strcmp(fmt, "dir");
	char *argv[] = { "cp", dir ? "-a" : "--reflink=auto", "--", (char *)res->path, tmp, NULL };
	struct proc_cmd c = { .argv = argv, .in_fd = -1, .out_fd = -1, .err_fd = STDERR_FILENO };
	int status = proc_run(g, &c);
	if (status == PROC_STOPPED)
		return status;
	if (status != 0 || (dir && access(output, F_OK) == 0) || rename(tmp, output) < 0) {
		msg_warn("image: cannot write %s%s", output,
			 dir && access(output, F_OK) == 0 ? ": it exists" : "");
		if (dir)
			image_remove_tree(g, tmp);
		else
			unlink(tmp);
		return -1;
	}
	char *cp[] = { "cp", "--", (char *)res->lock, lock, NULL };
	c.argv = cp;
	if (proc_run(g, &c) != 0) {
		msg_warn("image: cannot write %s", lock);
		return -1;
	}
	return 0;
}

/* Options that name a spec key, and the key. */
static const struct {
	const char *opt, *key;
} spec_opts[] = {
	{ "--name", "name" },         { "--suite", "suite" }, { "--variant", "variant" },
	{ "--package", "packages" },  { "--file", "file" },   { "--customize", "customize" },
	{ "--format", "format" },     { "--epoch", "epoch" }, { "--mirror", "mirror" },
	{ "--security", "security" },
};

struct build_args {
	struct image_spec spec;
	const char *output;
	int rebuild, quiet;
};

static int is_flag(const char *o)
{
	return !strcmp(o, "--rebuild") || !strcmp(o, "-q") || !strcmp(o, "--quiet") ||
	       !strcmp(o, "-h") || !strcmp(o, "--help");
}

/* SPEC or debian:SUITE, read before the options, which override it. */
static int read_what(struct build_args *a, const char *what)
{
	if (strncmp(what, DEBIAN_PREFIX, strlen(DEBIAN_PREFIX)) || access(what, F_OK) == 0)
		return read_spec_file(&a->spec, what);
	char err[300];
	if (image_spec_set(&a->spec, "suite", what + strlen(DEBIAN_PREFIX), NULL, err,
			   sizeof(err)) < 0 ||
	    image_spec_set(&a->spec, "name", what, NULL, err, sizeof(err)) < 0) {
		msg_warn("image: %s", err);
		return -1;
	}
	return 0;
}

/* One option (with its value in value): 0, or -1 after saying why (-2:
 * and the usage is worth showing). */
static int apply_option(struct build_args *a, const char *o, size_t olen, const char *value)
{
	if (!value) {
		msg_warn("image: %.*s needs a value", (int)olen, o);
		return -2;
	}
	if ((olen == 2 && !strncmp(o, "-o", 2)) || (olen == 8 && !strncmp(o, "--output", 8))) {
		a->output = value;
		return 0;
	}
	size_t k = 0, n = sizeof(spec_opts) / sizeof(spec_opts[0]);
	while (k < n && (strlen(spec_opts[k].opt) != olen || strncmp(o, spec_opts[k].opt, olen)))
		k++;
	if (k == n) {
		msg_warn("image: build: unknown option '%.*s'", (int)olen, o);
		return -2;
	}
	char err[600];
	if (image_spec_set(&a->spec, spec_opts[k].key, value, NULL, err, sizeof(err)) < 0) {
		msg_warn("image: %s", err);
		return -1;
	}
	return 0;
}

/* 0 parsed, 1 help asked, -1 said why, -2 said why and wants the usage. */
static int parse_build(int argc, char **argv, struct build_args *a)
{
	const char *what = NULL;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-') {
			if (what) {
				msg_warn("image: build: one SPEC only ('%s', '%s')", what, argv[i]);
				return -1;
			}
			what = argv[i];
		} else if (!is_flag(argv[i]) && !(argv[i][1] == '-' && strchr(argv[i], '='))) {
			i++; /* its value */
		}
	}
	if (what && read_what(a, what) < 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (o[0] != '-')
			continue;
		if (!strcmp(o, "-h") || !strcmp(o, "--help"))
			return 1;
		if (is_flag(o)) {
			a->rebuild |= !strcmp(o, "--rebuild");
			a->quiet |= o[1] == 'q' || !strcmp(o, "--quiet");
			continue;
		}
		const char *eq = o[1] == '-' ? strchr(o, '=') : NULL;
		size_t olen = eq ? (size_t)(eq - o) : strlen(o);
		const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		int rc = apply_option(a, o, olen, value);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The cached or new image for a request; prints the summary line. */
static int build_one(struct proc_guard *g, const struct image_cache *cache, struct image_spec *s,
		     int rebuild, int quiet, struct image_result *res)
{
	struct image_request req = {
		.spec = s, .cache = cache, .guard = g, .quiet = quiet, .rebuild = rebuild
	};
	char err[1200];
	int rc = image_build(&req, res, err, sizeof(err));
	if (rc == PROC_STOPPED) {
		msg_warn("image: stopped; nothing was added to the cache");
		return stop_status(g);
	}
	if (rc < 0) {
		msg_warn("image: %s", err);
		return EXIT_LAUNCHER;
	}
	if (!quiet) {
		char size[32];
		print_size(res->path, size, sizeof(size));
		msg_warn("image: %s%s%s (%s, %s%s%s, %.1f s)", s->name ? s->name : "",
			 s->name ? ": " : "", res->path, size, res->cached ? "cached, " : "",
			 res->sha256[0] ? "sha256 " : "", res->sha256[0] ? res->sha256 : "",
			 res->seconds);
	}
	return 0;
}

static int cmd_build(struct proc_guard *g, const struct image_cache *cache, int argc, char **argv)
{
	struct build_args a = { .rebuild = 0 };
	image_spec_init(&a.spec);
	int rc = parse_build(argc, argv, &a);
	if (rc != 0) {
		image_spec_free(&a.spec);
		if (rc != -1)
			fputs(usage, rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : EXIT_LAUNCHER;
	}
	struct image_result res;
	const char *fmt_name = a.spec.format ? a.spec.format : "squashfs";
	if (a.output && !strcmp(fmt_name, "dir") && access(a.output, F_OK) == 0) {
		msg_warn("image: %s exists: a directory output must be a new path", a.output);
		image_spec_free(&a.spec);
		return EXIT_LAUNCHER;
	}
	rc = build_one(g, cache, &a.spec, a.rebuild, a.quiet, &res);
	if (rc == 0 && a.output) {
		int w = write_output(g, &res, a.spec.format, a.output);
		rc = w == PROC_STOPPED ? stop_status(g) : w < 0 ? EXIT_LAUNCHER : 0;
	}
	if (rc == 0)
		printf("%s\n", a.output ? a.output : res.path);
	image_spec_free(&a.spec);
	return rc;
}

/* IMAGE (a file with IMAGE.lock beside it) or a cached name: the image
 * and its lock. */
static int find_locked(const struct image_cache *cache, const char *what, char *image, char *lock,
		       size_t size)
{
	char key[IMAGE_KEY_LEN + 1];
	const char *fmt;
	if (access(what, F_OK) < 0 && image_cache_name(cache, what, key) &&
	    entry_image(cache, key, image, size, &fmt)) {
		snprintf(lock, size, "%s/%s/image.lock", cache->images, key);
		return 0;
	}
	snprintf(image, size, "%s", what);
	snprintf(lock, size, "%s.lock", what);
	if (access(image, R_OK) < 0) {
		msg_warn("image: verify: %s: %s", what, strerror(errno));
		return -1;
	}
	if (access(lock, R_OK) < 0) {
		msg_warn("image: verify: %s: no lock beside it (%s: %s)", what, lock,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int compare(struct proc_guard *g, const char *fmt, const char *a, const char *b,
		   const char *scratch, char *out, size_t size)
{
	char da[PATH_MAX + 8], db[PATH_MAX + 8];
	snprintf(da, sizeof(da), "%s/a", scratch);
	snprintf(db, sizeof(db), "%s/b", scratch);
	int rc = image_unpack(g, fmt, a, da);
	if (rc == 0)
		rc = image_unpack(g, fmt, b, db);
	if (rc == PROC_STOPPED)
		return rc;
	if (rc < 0) {
		snprintf(out, size, "(the images could not be unpacked to compare their files)");
		return 1;
	}
	if (!image_tree_diff(da, db, out, size))
		snprintf(out, size,
			 "the same files, modes, owners, times and contents: the layouts differ");
	return 1;
}

static int cmd_verify(struct proc_guard *g, const struct image_cache *cache, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		int help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
		fputs("usage: wisp image verify IMAGE | NAME\n", help ? stdout : stderr);
		return help ? 0 : EXIT_LAUNCHER;
	}
	char image[PATH_MAX], lock[PATH_MAX], have[IMAGE_KEY_LEN + 1];
	if (find_locked(cache, argv[1], image, lock, sizeof(image)) < 0)
		return EXIT_LAUNCHER;
	struct image_spec s;
	image_spec_init(&s);
	char scratch[PATH_MAX], err[1200];
	int lock_fd = -1, rc = EXIT_LAUNCHER;
	if (read_spec_file(&s, lock) < 0)
		goto out;
	if (!s.npins || !s.sha256 || !s.format) {
		msg_warn("image: verify: %s is not a lock (it needs its pins, format and "
			 "sha256)",
			 lock);
		goto out;
	}
	if (image_file_sha256(g, image, have) < 0) {
		msg_warn("image: verify: cannot hash %s", image);
		goto out;
	}
	if (strcmp(have, s.sha256))
		msg_warn("image: verify: %s is not the image its lock describes (sha256 %s, the "
			 "lock says %s)",
			 image, have, s.sha256);
	if (image_cache_begin(g, cache, scratch, sizeof(scratch), &lock_fd, err, sizeof(err)) < 0) {
		msg_warn("image: %s", err);
		goto out;
	}
	struct image_request req = { .spec = &s, .cache = cache, .guard = g, .scratch = scratch };
	struct image_result res;
	int b = image_build(&req, &res, err, sizeof(err));
	if (b == PROC_STOPPED) {
		rc = stop_status(g);
	} else if (b < 0) {
		msg_warn("image: verify: cannot rebuild: %s", err);
	} else if (!strcmp(res.sha256, have)) {
		msg_warn("image: verify: %s is identical to its rebuild (sha256 %s, %.1f s)", image,
			 have, res.seconds);
		rc = 0;
	} else {
		char diff[PATH_MAX + 100];
		if (compare(g, s.format, image, res.path, scratch, diff, sizeof(diff)) ==
		    PROC_STOPPED) {
			rc = stop_status(g);
		} else {
			msg_warn("image: verify: %s differs from its rebuild (sha256 %s, rebuilt "
				 "%s): first difference %s",
				 image, have, res.sha256, diff);
			rc = 1;
		}
	}
	image_remove_tree(g, scratch);
	close_fd(&lock_fd);
out:
	image_spec_free(&s);
	return rc;
}

static void list_one(const char *name, const char *key, void *ctx)
{
	const struct image_cache *cache = ctx;
	char path[PATH_MAX], size[32];
	const char *fmt = "-";
	if (!entry_image(cache, key, path, sizeof(path), &fmt))
		snprintf(path, sizeof(path), "(missing)");
	print_size(path, size, sizeof(size));
	printf("%-28s %-12.12s %-9s %-10s %s\n", name, key, fmt, size, path);
}

static int cmd_ls(const struct image_cache *cache, int argc, char **argv)
{
	if (argc > 1) {
		int help = !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help");
		fputs("usage: wisp image ls\n", help ? stdout : stderr);
		return help ? 0 : EXIT_LAUNCHER;
	}
	printf("%-28s %-12s %-9s %-10s %s\n", "NAME", "KEY", "FORMAT", "SIZE", "PATH");
	image_cache_each_name(cache, list_one, (void *)cache);
	return 0;
}

static int cmd_rm(struct proc_guard *g, const struct image_cache *cache, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		int help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
		fputs("usage: wisp image rm NAME\n", help ? stdout : stderr);
		return help ? 0 : EXIT_LAUNCHER;
	}
	if (image_cache_remove_name(g, cache, argv[1]) < 0) {
		msg_warn("image: rm: %s: %s", argv[1],
			 errno == ENOENT ? "no image has this name" : strerror(errno));
		return EXIT_LAUNCHER;
	}
	return 0;
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_LAUNCHER : 0;
	}
	struct proc_guard g;
	struct image_cache cache;
	char err[PATH_MAX + 200];
	if (proc_guard_init(&g) < 0) {
		msg_warn("image: signalfd: %s", strerror(errno));
		return EXIT_LAUNCHER;
	}
	int rc = EXIT_LAUNCHER;
	if (image_cache_open(&cache, err, sizeof(err)) < 0)
		msg_warn("image: %s", err);
	else if (!strcmp(argv[1], "build"))
		rc = cmd_build(&g, &cache, argc - 1, argv + 1);
	else if (!strcmp(argv[1], "verify"))
		rc = cmd_verify(&g, &cache, argc - 1, argv + 1);
	else if (!strcmp(argv[1], "ls"))
		rc = cmd_ls(&cache, argc - 1, argv + 1);
	else if (!strcmp(argv[1], "rm"))
		rc = cmd_rm(&g, &cache, argc - 1, argv + 1);
	else
		fprintf(stderr, "wisp: image: unknown command '%s'\n%s", argv[1], usage);
	proc_guard_close(&g);
	return rc;
}

int image_rootfs_name(const char *source, char *path, size_t size, char *err, size_t errlen)
{
	if (strchr(source, '/') || access(source, F_OK) == 0 || !image_name_valid(source))
		return 0;
	struct image_cache cache;
	if (image_cache_open(&cache, err, errlen) < 0)
		return -1;
	char key[IMAGE_KEY_LEN + 1];
	const char *fmt;
	if (image_cache_name(&cache, source, key) && entry_image(&cache, key, path, size, &fmt))
		return 1;
	if (strncmp(source, DEBIAN_PREFIX, strlen(DEBIAN_PREFIX))) {
		snprintf(err, errlen,
			 "--rootfs %s: no such file, and no image of that name (`wisp image ls` "
			 "lists them)",
			 source);
		return -1;
	}
	/* debian:SUITE is built on first use, then booted from the cache. */
	msg_warn("image: %s is not built yet: building it (once)", source);
	struct proc_guard g;
	if (proc_guard_init(&g) < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	struct image_spec s;
	image_spec_init(&s);
	struct image_result res;
	int rc = image_spec_set(&s, "suite", source + strlen(DEBIAN_PREFIX), NULL, err, errlen);
	if (rc == 0)
		rc = image_spec_set(&s, "name", source, NULL, err, errlen);
	if (rc == 0)
		rc = build_one(&g, &cache, &s, 0, 0, &res);
	else
		msg_warn("%s", err);
	if (rc == 0)
		snprintf(path, size, "%s", res.path);
	image_spec_free(&s);
	proc_guard_close(&g);
	if (rc != 0)
		err[0] = '\0'; /* build_one said why */
	return rc == 0 ? 1 : -1;
}

/* Building a reproducible Debian image (image_build.h). */
#include "image_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/fd.h"
#include "apt_text.h"
#include "err_text.h"
#include "msg.h"

/* Bumped when a change here changes the bytes a spec gives: part of
 * every cache key. */
#define RECIPE_VERSION 3
#define LOG_MAX (16 << 20) /* what is read back of a tool's log */
#define DEFAULT_MIRROR "http://deb.debian.org/debian"
#define DEFAULT_SECURITY "http://deb.debian.org/debian-security"
#define APT_ETC "/etc/apt"

/* The hooks mmdebstrap runs, as files in the build's stage directory
 * (WISP_STAGE), so no path is ever quoted into a shell command line. */
static const char files_hook[] =
	"#!/bin/sh\n"
	"# The spec's files, owned by root, dated SOURCE_DATE_EPOCH, with the modes\n"
	"# they have on the host (the stage's copies are readable by anyone, so\n"
	"# that mmdebstrap's unshare mode can read them); existing directories keep\n"
	"# their owner and mode.\n"
	"set -e\n"
	"tar -C \"$WISP_STAGE/files\" --create --sort=name --owner=0 --group=0 --numeric-owner \\\n"
	"    --mtime=\"@$SOURCE_DATE_EPOCH\" . | tar -C \"$1\" --extract --no-overwrite-dir\n"
	"while read -r mode path; do chroot \"$1\" chmod \"$mode\" \"$path\"; done \\\n"
	"    < \"$WISP_STAGE/modes\"\n";

static const char customize_hook[] = "#!/bin/sh\n"
				     "# The spec's customize script, run by /bin/sh in the root.\n"
				     "set -e\n"
				     "cp \"$WISP_STAGE/customize\" \"$1/.wisp-customize\"\n"
				     "status=0\n"
				     "chroot \"$1\" /bin/sh /.wisp-customize || status=$?\n"
				     "rm -f \"$1/.wisp-customize\"\n"
				     "exit $status\n";

static const char finish_hook[] =
	"#!/bin/sh\n"
	"# Last: nothing of the build host, its day or its downloads stays.\n"
	"set -e\n"
	"r=\"$1\"\n"
	"cat \"$WISP_STAGE/sources.list\" > \"$r/etc/apt/sources.list\"\n"
	"rm -f \"$r/etc/hostname\" \"$r/etc/resolv.conf\"\n"
	"if [ -f \"$r/etc/machine-id\" ]; then : > \"$r/etc/machine-id\"; fi\n"
	"for f in var/lib/dbus/machine-id var/lib/systemd/random-seed "
	"var/cache/ldconfig/aux-cache; do\n"
	"    if [ -f \"$r/$f\" ] && [ ! -L \"$r/$f\" ]; then rm -f \"$r/$f\"; fi\n"
	"done\n"
	"rm -f \"$r\"/var/lib/dpkg/*-old \"$r\"/var/cache/debconf/*-old\n"
	"rm -rf \"$r\"/var/lib/apt/lists/* \"$r\"/var/cache/apt/*.bin\n"
	"mkdir -m 0700 \"$r/var/lib/apt/lists/partial\"\n"
	"find \"$r/var/log\" -xdev -type f ! -size 0 -delete\n"
	"# apt's own partial directories: _apt's, as apt makes them on a live\n"
	"# system (mmdebstrap leaves them root's in root mode, _apt's in unshare\n"
	"# mode; its own clean-up of the lists, which would remake one, is skipped).\n"
	"if chroot \"$r\" id -u _apt >/dev/null 2>&1; then\n"
	"    for d in /var/cache/apt/archives/partial /var/lib/apt/lists/partial; do\n"
	"        if [ -d \"$r$d\" ]; then chroot \"$r\" chown _apt:root \"$d\"; fi\n"
	"    done\n"
	"fi\n"
	"chroot \"$r\" dpkg-query -W -f '${Package}=${Version} ${Architecture}\\n' \\\n"
	"    > \"$r/.wisp-installed\"\n";

struct build {
	const struct image_request *r;
	struct image_spec *s;
	char dir[PATH_MAX];   /* the build directory */
	char log[PATH_MAX];   /* every tool's stderr */
	char stage[PATH_MAX]; /* what the hooks read */
	char entry[PATH_MAX]; /* the finished entry, before it moves */
	char sources[3][1200];
	int nsources;
	/* SOURCE_DATE_EPOCH: the spec's, else the newest pinned package's,
	 * which the pins decide: a lock need not (and does not) fix it. */
	long long epoch;
	char *err;
	size_t errlen;
};

/* snprintf for paths under the build directory, whose length the cache
 * bounds: a path cut short is an error, never a different file. */
static int pathf(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(const struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct build *b, const char *fmt, ...)
{
	if (b->r->quiet)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	msg_warn("image: %s", line);
}

static char *read_text(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = 0;
	while (buf && n < max) {
		ssize_t got = read(fd, buf + n, max - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	return close(fd);
}

static int fail(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct build *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Runs argv with stderr appended to the build log; its status, or
 * PROC_STOPPED, or -1 (cannot start). */
static int run(struct build *b, char **argv, char **env, char **unset, int in_fd, int out_fd,
	       const char *cwd)
{
	int log = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log < 0)
		return -1;
	struct proc_cmd c = { .argv = argv,
			      .setenv = env,
			      .unset = unset,
			      .cwd = cwd,
			      .in_fd = in_fd,
			      .out_fd = out_fd >= 0 ? out_fd : log,
			      .err_fd = log };
	int status = proc_run(b->r->guard, &c);
	close(log);
	return status;
}

/* A tool's failure as one line: apt's own error when there is one, else
 * the log's last line. */
static int tool_failed(struct build *b, const char *what, int status)
{
	if (status == PROC_STOPPED)
		return PROC_STOPPED;
	if (status < 0)
		return fail(b, "%s: cannot run it: %s", what, strerror(errno));
	char *log = read_text(b->log, LOG_MAX);
	char line[600] = "";
	if (log && !apt_error_line(log, line, sizeof(line))) {
		char *end = log + strlen(log);
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			*--end = '\0';
		char *last = strrchr(log, '\n');
		snprintf(line, sizeof(line), "%s", last ? last + 1 : log);
	}
	free(log);
	return fail(b, "%s failed (status %d): %s", what, status, line[0] ? line : "no message");
}

/* A tool's status as the build's answer: 0, or one line. */
static int checked(struct build *b, const char *what, const char *tool, int status)
{
	if (status == 127) /* the child's exec failed: no such tool */
		return fail(b, "%s: cannot run %s (is it installed? `make deps` installs it)", what,
			    tool);
	return status == 0 ? 0 : tool_failed(b, what, status);
}

static int run_checked(struct build *b, const char *what, char **argv, char **env, char **unset,
		       int in_fd, int out_fd, const char *cwd)
{
	return checked(b, what, argv[0], run(b, argv, env, unset, in_fd, out_fd, cwd));
}

int image_file_sha256(struct proc_guard *g, const char *path, char *hex)
{
	char tmpl[] = "/tmp/wisp-sha256.XXXXXX";
	int out = mkstemp(tmpl);
	if (out < 0)
		return -1;
	unlink(tmpl);
	char *argv[] = { "sha256sum", "--", (char *)path, NULL };
	struct proc_cmd c = { .argv = argv, .in_fd = -1, .out_fd = out, .err_fd = -1 };
	int status = proc_run(g, &c);
	char buf[IMAGE_KEY_LEN + 1] = "";
	int ok = status == 0 && pread(out, buf, IMAGE_KEY_LEN, 0) == IMAGE_KEY_LEN &&
		 strspn(buf, "0123456789abcdef") == IMAGE_KEY_LEN;
	close(out);
	if (!ok)
		return -1;
	memcpy(hex, buf, IMAGE_KEY_LEN);
	hex[IMAGE_KEY_LEN] = '\0';
	return 0;
}

/* mmdebstrap's temporary tree goes into the build directory, where a
 * build that dies leaves it for the next build's sweep. In unshare mode
 * (not root) its root is a subordinate uid that cannot write there: then
 * TMPDIR is dropped and it uses /tmp. Goes last in an env list (NULL ends
 * the list early). */
static char *tmpdir_env(const struct build *b, char *buf, size_t size)
{
	pathf(buf, size, "TMPDIR=%s", b->dir);
	return geteuid() == 0 ? buf : NULL;
}

static char **tmpdir_unset(void)
{
	static char *const drop[] = { "TMPDIR", NULL };
	return geteuid() == 0 ? NULL : (char **)drop;
}

/* ---- what to build from ---- */

static int resolve_suite(struct build *b)
{
	if (b->s->suite)
		return 0;
	char *text = read_text("/etc/os-release", 65536);
	char codename[64];
	int found = text && os_release_codename(text, codename, sizeof(codename));
	free(text);
	if (!found)
		return fail(b, "cannot tell the host's Debian release from /etc/os-release: give "
			       "--suite");
	return image_spec_set(b->s, "suite", codename, NULL, b->err, b->errlen);
}

/* The URI the host's apt uses for suite: sources.list, then the files in
 * sources.list.d in order. 1 if found. */
static int host_uri(const char *suite, char *out, size_t size)
{
	char *text = read_text(APT_ETC "/sources.list", 1 << 20);
	int found = text && apt_source_uri(text, 0, suite, out, size);
	free(text);
	glob_t g;
	if (found || glob(APT_ETC "/sources.list.d/*", 0, NULL, &g) != 0)
		return found;
	for (size_t i = 0; i < g.gl_pathc && !found; i++) {
		size_t n = strlen(g.gl_pathv[i]);
		int deb822 = n > 8 && !strcmp(g.gl_pathv[i] + n - 8, ".sources");
		if (!deb822 && !(n > 5 && !strcmp(g.gl_pathv[i] + n - 5, ".list")))
			continue;
		text = read_text(g.gl_pathv[i], 1 << 20);
		found = text && apt_source_uri(text, deb822, suite, out, size);
		free(text);
	}
	globfree(&g);
	return found;
}

static int rolling(const char *suite)
{
	return !strcmp(suite, "sid") || !strcmp(suite, "unstable") ||
	       !strcmp(suite, "experimental");
}

/* The mirror and security mirror the host's apt uses (for this suite, else
 * for the host's own), into the spec, so the lock records them. */
static int resolve_mirrors(struct build *b)
{
	struct image_spec *s = b->s;
	char uri[1024], host[64] = "";
	char *osr = read_text("/etc/os-release", 65536);
	if (osr)
		os_release_codename(osr, host, sizeof(host));
	free(osr);
	if (!s->mirror) {
		const char *v = host_uri(s->suite, uri, sizeof(uri)) ||
						(host[0] && host_uri(host, uri, sizeof(uri)))
					? uri
					: DEFAULT_MIRROR;
		if (image_spec_set(s, "mirror", v, NULL, b->err, b->errlen) < 0)
			return -1;
	}
	if (!s->security) {
		const char *v = DEFAULT_SECURITY;
		char suite[128];
		snprintf(suite, sizeof(suite), "%s-security", s->suite);
		if (rolling(s->suite))
			v = "none";
		else if (host_uri(suite, uri, sizeof(uri)))
			v = uri;
		else if (snprintf(suite, sizeof(suite), "%s-security", host) > 9 &&
			 host_uri(suite, uri, sizeof(uri)))
			v = uri;
		if (image_spec_set(s, "security", v, NULL, b->err, b->errlen) < 0)
			return -1;
	}
	b->nsources = 0;
	snprintf(b->sources[b->nsources++], sizeof(b->sources[0]), "deb %s %s main", s->mirror,
		 s->suite);
	if (!rolling(s->suite))
		snprintf(b->sources[b->nsources++], sizeof(b->sources[0]), "deb %s %s-updates main",
			 s->mirror, s->suite);
	if (strcmp(s->security, "none"))
		snprintf(b->sources[b->nsources++], sizeof(b->sources[0]),
			 "deb %s %s-security main", s->security, s->suite);
	return 0;
}

/* "--include=a,b,c" of the spec's packages (pinned to their versions
 * when pins is set), or NULL when there are none. */
static char *include_arg(const struct image_spec *s, int pinned_all)
{
	size_t cap = 32;
	size_t n = pinned_all ? s->npins : s->npackages;
	for (size_t i = 0; i < n; i++)
		cap += pinned_all ? strlen(s->pins[i].name) + strlen(s->pins[i].version) + 2
				  : strlen(s->packages[i]) + 1;
	if (n == 0)
		return NULL;
	char *arg = malloc(cap);
	if (!arg)
		return NULL;
	size_t len = (size_t)sprintf(arg, "--include=");
	for (size_t i = 0; i < n; i++) {
		if (pinned_all)
			len += (size_t)sprintf(arg + len, "%s%s=%s", i ? "," : "", s->pins[i].name,
					       s->pins[i].version);
		else
			len += (size_t)sprintf(arg + len, "%s%s", i ? "," : "", s->packages[i]);
	}
	return arg;
}

/* argv for mmdebstrap: fixed options, then SUITE TARGET SOURCES. */
struct argv_buf {
	char *v[64];
	int n;
};

static void push_arg(struct argv_buf *a, const char *s)
{
	if (a->n < (int)(sizeof(a->v) / sizeof(a->v[0])) - 1)
		a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

/* mmdebstrap against the mirror with nothing to keep: a's options, then
 * SUITE, no target, the sources. Its status. */
static int run_on_mirror(struct build *b, struct argv_buf *a)
{
	push_arg(a, b->s->suite);
	push_arg(a, "/dev/null");
	for (int i = 0; i < b->nsources; i++)
		push_arg(a, b->sources[i]);
	char tmpdir[PATH_MAX + 8];
	char *env[] = { tmpdir_env(b, tmpdir, sizeof(tmpdir)), NULL };
	truncate(b->log, 0);
	return run(b, a->v, env, tmpdir_unset(), -1, -1, NULL);
}

/* The package list the spec resolves to today, from apt's simulation
 * against the mirror. */
static int resolve_packages(struct build *b)
{
	struct image_spec *s = b->s;
	if (s->npins)
		return 0; /* a lock: already resolved */
	char *include = include_arg(s, 0);
	say(b, "resolving %s %s%s%s against %s", s->suite, s->variant, include ? " + " : "",
	    include ? include + strlen("--include=") : "", s->mirror);
	char variant[64];
	snprintf(variant, sizeof(variant), "--variant=%s", s->variant);
	struct argv_buf a = { .n = 0 };
	push_arg(&a, "mmdebstrap");
	push_arg(&a, "--simulate");
	push_arg(&a, "--verbose");
	push_arg(&a, variant);
	if (include)
		push_arg(&a, include);
	int status = checked(b, "resolving the packages", "mmdebstrap", run_on_mirror(b, &a));
	free(include);
	if (status)
		return status;
	char *log = read_text(b->log, LOG_MAX);
	if (!log)
		return fail(b, "resolving the packages: %s", strerror(errno));
	int n = apt_sim_pins(s, log, b->err, b->errlen);
	free(log);
	if (n <= 0)
		return n < 0 ? -1 : fail(b, "resolving the packages: apt listed none");
	return image_spec_finish(s, b->err, b->errlen);
}

/* ---- the cache key ---- */

static int key_of(struct build *b, char *key)
{
	char path[PATH_MAX + 16];
	pathf(path, sizeof(path), "%s/key", b->dir);
	FILE *f = fopen(path, "we");
	if (!f)
		return fail(b, "%s: %s", path, strerror(errno));
	fprintf(f, "wisp-image %d\n", RECIPE_VERSION);
	image_spec_write(b->s, f, IMAGE_TEXT_KEY);
	/* What the files and the script hold, not where they are. */
	for (size_t i = 0; i < b->s->nfiles; i++) {
		char hex[IMAGE_KEY_LEN + 1];
		if (image_file_sha256(b->r->guard, b->s->files[i].host, hex) < 0) {
			fclose(f);
			return fail(b, "file %s: cannot read it", b->s->files[i].host);
		}
		struct stat st;
		stat(b->s->files[i].host, &st);
		fprintf(f, "file-content = %s %o %s\n", hex, (unsigned)(st.st_mode & 07777),
			b->s->files[i].guest);
	}
	if (b->s->customize) {
		char hex[IMAGE_KEY_LEN + 1];
		if (image_file_sha256(b->r->guard, b->s->customize, hex) < 0) {
			fclose(f);
			return fail(b, "customize script %s: cannot read it", b->s->customize);
		}
		fprintf(f, "customize-content = %s\n", hex);
	}
	if (fclose(f) != 0)
		return fail(b, "%s: %s", path, strerror(errno));
	if (image_file_sha256(b->r->guard, path, key) < 0)
		return fail(b, "hashing the spec failed");
	return 0;
}

/* ---- packages ---- */

static int deb_path(const struct build *b, const struct image_pin *p, char *out, size_t size)
{
	char name[512];
	if (deb_file_name(p->name, p->version, p->arch, name, sizeof(name)) < 0)
		return -1;
	return snprintf(out, size, "%s/%s", b->r->cache->debs, name) < (int)size ? 0 : -1;
}

static size_t count_missing(const struct build *b, const struct image_pin **first)
{
	size_t missing = 0;
	*first = NULL;
	for (size_t i = 0; i < b->s->npins; i++) {
		char path[PATH_MAX];
		if (deb_path(b, &b->s->pins[i], path, sizeof(path)) == 0 && access(path, R_OK) == 0)
			continue;
		if (!missing++)
			*first = &b->s->pins[i];
	}
	return missing;
}

/* Moves the .debs a fetch left in dir into the package cache. */
static int keep_debs(struct build *b, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return fail(b, "%s: %s", dir, strerror(errno));
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) && rc == 0) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".deb") || e->d_name[0] == '.')
			continue;
		char from[PATH_MAX + 300], to[PATH_MAX + 300];
		snprintf(from, sizeof(from), "%s/%s", dir, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", b->r->cache->debs, e->d_name);
		if (rename(from, to) == 0)
			continue;
		char *cp[] = { "cp", "--", from, to, NULL };
		if (errno != EXDEV || run(b, cp, NULL, NULL, -1, -1, NULL) != 0)
			rc = fail(b, "package cache %s: cannot add %s", b->r->cache->debs,
				  e->d_name);
	}
	closedir(d);
	return rc;
}

/* Downloads the pinned packages the cache lacks, exactly at their
 * versions, with mmdebstrap's extract variant (no scripts run). */
static int fetch_packages(struct build *b)
{
	const struct image_pin *first;
	size_t missing = count_missing(b, &first);
	if (!missing)
		return 0;
	say(b, "downloading %zu of %zu packages", missing, b->s->npins);
	char fetched[PATH_MAX + 16], hook[PATH_MAX + 64];
	pathf(fetched, sizeof(fetched), "%s/fetched", b->dir);
	if (mkdir(fetched, 0755) < 0 && errno != EEXIST)
		return fail(b, "%s: %s", fetched, strerror(errno));
	snprintf(hook, sizeof(hook), "--extract-hook=sync-out /var/cache/apt/archives %s", fetched);
	char *include = include_arg(b->s, 1);
	struct argv_buf a = { .n = 0 };
	push_arg(&a, "mmdebstrap");
	push_arg(&a, "--variant=extract");
	push_arg(&a, "--skip=download/empty");
	push_arg(&a, include);
	push_arg(&a, hook);
	int status = run_on_mirror(b, &a);
	free(include);
	if (status == PROC_STOPPED)
		return status;
	if (status == 0 && keep_debs(b, fetched) < 0)
		return -1;
	if (!count_missing(b, &first))
		return 0;
	char why[600] = "";
	char *log = read_text(b->log, LOG_MAX);
	if (log)
		apt_error_line(log, why, sizeof(why)); /* apt's word on which, if any */
	free(log);
	return fail(b,
		    "package %s=%s (%s) is neither on the mirror (%s) nor in the package cache "
		    "(%s)%s%s",
		    first->name, first->version, first->arch, b->s->mirror, b->r->cache->debs,
		    why[0] ? ": " : "", why);
}

/* SOURCE_DATE_EPOCH: the spec's, else the newest package's build date. */
static int resolve_epoch(struct build *b)
{
	b->epoch = b->s->epoch;
	if (b->epoch != IMAGE_EPOCH_AUTO)
		return 0;
	long long newest = -1;
	for (size_t i = 0; i < b->s->npins; i++) {
		char path[PATH_MAX];
		unsigned char head[DEB_HEADER_SIZE];
		int fd = deb_path(b, &b->s->pins[i], path, sizeof(path)) == 0
				 ? open(path, O_RDONLY | O_CLOEXEC)
				 : -1;
		ssize_t n = fd >= 0 ? pread(fd, head, sizeof(head), 0) : -1;
		if (fd >= 0)
			close(fd);
		long long t = n > 0 ? deb_build_date(head, (size_t)n) : -1;
		if (t < 0)
			return fail(b, "%s: not a Debian package", path);
		if (t > newest)
			newest = t;
	}
	b->epoch = newest;
	return 0;
}

/* A flat repository of exactly the pinned packages: the build sees no
 * other version of anything, and needs no network. */
static int make_repo(struct build *b, char *repo, size_t size)
{
	pathf(repo, size, "%s/repo", b->dir);
	if (mkdir(repo, 0755) < 0)
		return fail(b, "%s: %s", repo, strerror(errno));
	for (size_t i = 0; i < b->s->npins; i++) {
		char from[PATH_MAX], to[PATH_MAX + 600], name[512];
		deb_path(b, &b->s->pins[i], from, sizeof(from));
		deb_file_name(b->s->pins[i].name, b->s->pins[i].version, b->s->pins[i].arch, name,
			      sizeof(name));
		snprintf(to, sizeof(to), "%s/%s", repo, name);
		if (link(from, to) < 0 && symlink(from, to) < 0)
			return fail(b, "%s: %s", to, strerror(errno));
	}
	/* The archive's priorities are not in the packages (apt is
	 * "important" in its .deb, "required" in bookworm's index): every pin
	 * is given priority required, so that any variant installs exactly
	 * the pins. */
	char packages[PATH_MAX + 16], override[PATH_MAX + 16];
	pathf(override, sizeof(override), "%s/override", b->dir);
	FILE *f = fopen(override, "we");
	if (!f)
		return fail(b, "%s: %s", override, strerror(errno));
	for (size_t i = 0; i < b->s->npins; i++)
		fprintf(f, "%s required misc\n", b->s->pins[i].name);
	if (fclose(f) != 0)
		return fail(b, "%s: %s", override, strerror(errno));
	pathf(packages, sizeof(packages), "%s/Packages", repo);
	int out = open(packages, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return fail(b, "%s: %s", packages, strerror(errno));
	char *argv[] = { "dpkg-scanpackages", "--multiversion", ".", override, NULL };
	int rc = run_checked(b, "dpkg-scanpackages", argv, NULL, NULL, -1, out, repo);
	close(out);
	return rc;
}

/* ---- the root ---- */

/* A copy readable by anyone, whatever the source's mode (which the files
 * hook gives back in the root). */
static int copy_into(struct build *b, const char *from, const char *to)
{
	char *argv[] = { "cp", "--dereference", "--no-preserve=all", "--", (char *)from, (char *)to,
			 NULL };
	int status = run(b, argv, NULL, NULL, -1, -1, NULL);
	if (status == PROC_STOPPED)
		return status;
	if (status != 0 || chmod(to, 0644) < 0)
		return fail(b, "cannot copy %s into the build", from);
	return 0;
}

/* The stage: hook scripts, the image's sources.list, the spec's files
 * laid out as in the root, and the customize script. */
static int make_stage(struct build *b)
{
	pathf(b->stage, sizeof(b->stage), "%s/stage", b->dir);
	char path[PATH_MAX + 64];
	if (mkdir(b->stage, 0755) < 0)
		return fail(b, "%s: %s", b->stage, strerror(errno));
	pathf(path, sizeof(path), "%s/finish.sh", b->stage);
	int bad = write_text(path, finish_hook, 0755) < 0;
	pathf(path, sizeof(path), "%s/files.sh", b->stage);
	bad |= write_text(path, files_hook, 0755) < 0;
	pathf(path, sizeof(path), "%s/customize.sh", b->stage);
	bad |= write_text(path, customize_hook, 0755) < 0;
	char list[sizeof(b->sources) + 8] = "";
	for (int i = 0; i < b->nsources; i++)
		strcat(strcat(list, b->sources[i]), "\n");
	pathf(path, sizeof(path), "%s/sources.list", b->stage);
	bad |= write_text(path, list, 0644) < 0;
	pathf(path, sizeof(path), "%s/files", b->stage);
	bad |= mkdir(path, 0755) < 0;
	pathf(path, sizeof(path), "%s/modes", b->stage);
	FILE *modes = bad ? NULL : fopen(path, "we");
	if (!modes)
		return fail(b, "%s: %s", b->stage, strerror(errno));
	for (size_t i = 0; i < b->s->nfiles; i++) {
		const struct image_file *f = &b->s->files[i];
		char dest[PATH_MAX + 4200];
		pathf(dest, sizeof(dest), "%s/files%s", b->stage, f->guest);
		/* Its directories, 0755, as the root would make them. */
		for (char *p = dest + strlen(b->stage) + 7; (p = strchr(p, '/')); p++) {
			*p = '\0';
			int made = mkdir(dest, 0755) == 0 || errno == EEXIST;
			*p = '/';
			if (!made) {
				fclose(modes);
				return fail(b, "%s: %s", dest, strerror(errno));
			}
		}
		struct stat st;
		int rc = stat(f->host, &st) < 0 ? fail(b, "%s: %s", f->host, strerror(errno))
						: copy_into(b, f->host, dest);
		if (rc) {
			fclose(modes);
			return rc;
		}
		fprintf(modes, "%o %s\n", (unsigned)(st.st_mode & 07777), f->guest);
	}
	if (fclose(modes) != 0)
		return fail(b, "%s/modes: %s", b->stage, strerror(errno));
	if (b->s->customize) {
		pathf(path, sizeof(path), "%s/customize", b->stage);
		return copy_into(b, b->s->customize, path);
	}
	return 0;
}

/* What dpkg installed must be what was pinned. */
static int check_installed(struct build *b)
{
	char path[PATH_MAX + 16];
	pathf(path, sizeof(path), "%s/installed", b->dir);
	char *text = read_text(path, LOG_MAX);
	if (!text)
		return fail(b, "the build left no package list: %s", strerror(errno));
	int rc = 0;
	for (size_t i = 0; i < b->s->npins && rc == 0; i++) {
		char want[600];
		const struct image_pin *p = &b->s->pins[i];
		snprintf(want, sizeof(want), "%s=%s %s\n", p->name, p->version, p->arch);
		size_t n = strlen(want);
		int found = !strncmp(text, want, n);
		for (const char *q = text; !found && (q = strchr(q, '\n')); q++)
			found = !strncmp(q + 1, want, n);
		if (!found)
			rc = fail(b, "the build did not install %s=%s %s as pinned", p->name,
				  p->version, p->arch);
	}
	free(text);
	return rc;
}

/* mmdebstrap installs the pinned packages from the local repository and
 * writes the root as a tar (sorted, owners numeric, times clamped). */
static int bootstrap(struct build *b, const char *repo, const char *tar)
{
	char variant[64], source[PATH_MAX + 64], epoch[64], stage[PATH_MAX + 16],
		tmpdir[PATH_MAX + 8];
	char files[PATH_MAX + 64], customize[PATH_MAX + 64], finish[PATH_MAX + 64],
		installed[PATH_MAX + 64];
	snprintf(variant, sizeof(variant), "--variant=%s", b->s->variant);
	snprintf(source, sizeof(source), "deb [trusted=yes] copy://%s ./", repo);
	snprintf(epoch, sizeof(epoch), "SOURCE_DATE_EPOCH=%lld", b->epoch);
	snprintf(stage, sizeof(stage), "WISP_STAGE=%s", b->stage);
	snprintf(files, sizeof(files), "--customize-hook=%s/files.sh", b->stage);
	snprintf(customize, sizeof(customize), "--customize-hook=%s/customize.sh", b->stage);
	snprintf(finish, sizeof(finish), "--customize-hook=%s/finish.sh", b->stage);
	/* dpkg's list, out through mmdebstrap (which writes it as the user),
	 * then out of the root. */
	snprintf(installed, sizeof(installed),
		 "--customize-hook=download /.wisp-installed %s/installed", b->dir);
	char *include = include_arg(b->s, 0);
	struct argv_buf a = { .n = 0 };
	push_arg(&a, "mmdebstrap");
	push_arg(&a, variant);
	if (include)
		push_arg(&a, include);
	if (b->s->nfiles)
		push_arg(&a, files);
	if (b->s->customize)
		push_arg(&a, customize);
	push_arg(&a, finish);
	push_arg(&a, installed);
	push_arg(&a, "--customize-hook=rm -f \"$1/.wisp-installed\"");
	push_arg(&a, "--skip=cleanup/apt/lists"); /* finish.sh's */
	push_arg(&a, "--format=tar");
	push_arg(&a, ""); /* no suite: every package of the repository counts */
	push_arg(&a, tar);
	push_arg(&a, source);
	char *env[] = { epoch, stage, tmpdir_env(b, tmpdir, sizeof(tmpdir)), NULL };
	truncate(b->log, 0);
	int rc = run_checked(b, "mmdebstrap", a.v, env, tmpdir_unset(), -1, -1, NULL);
	free(include);
	return rc ? rc : check_installed(b);
}

/* ---- the image ---- */

/* A UUID for the file system, from the key: fixed for the same inputs,
 * different between images. */
static void key_uuid(const char *key, char *out)
{
	snprintf(out, 37, "%.8s-%.4s-4%.3s-8%.3s-%.12s", key, key + 8, key + 12, key + 15,
		 key + 18);
}

static int make_tree(struct build *b, const char *tar, const char *tree)
{
	if (mkdir(tree, 0755) < 0)
		return fail(b, "%s: %s", tree, strerror(errno));
	/* As root: the owners are the tar's (image_build() refuses these
	 * formats to other users). */
	char *argv[] = { "tar",
			 "--extract",
			 "--numeric-owner",
			 "--preserve-permissions",
			 "--xattrs",
			 "--xattrs-include=*",
			 "--file",
			 (char *)tar,
			 "--directory",
			 (char *)tree,
			 NULL };
	return run_checked(b, "unpacking the root", argv, NULL, NULL, -1, -1, NULL);
}

static int make_image(struct build *b, const char *tar, const char *image, char *key)
{
	const char *fmt = b->s->format;
	char epoch[32], uuid[40], tree[PATH_MAX + 8];
	snprintf(epoch, sizeof(epoch), "%lld", b->epoch);
	key_uuid(key, uuid);
	pathf(tree, sizeof(tree), "%s/tree", b->dir);
	if (!strcmp(fmt, "tar"))
		return rename(tar, image) == 0 ? 0 : fail(b, "%s: %s", image, strerror(errno));
	if (!strcmp(fmt, "dir")) {
		int rc = make_tree(b, tar, image);
		return rc;
	}
	if (!strcmp(fmt, "squashfs")) {
		int in = open(tar, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			return fail(b, "%s: %s", tar, strerror(errno));
		/* It skips the tar's "./" and dates the root now, ignoring
		 * -root-time (4.5.1): every file gets SOURCE_DATE_EPOCH, and the
		 * root the tar's mode and owner. It refuses -mkfs-time beside
		 * SOURCE_DATE_EPOCH. */
		char *argv[] = {
			"mksquashfs", "-",         (char *)image, "-tar",         "-noappend",
			"-mkfs-time", epoch,       "-all-time",   epoch,          "-root-mode",
			"755",        "-root-uid", "0",           "-root-gid",    "0",
			"-comp",      "lz4",       "-quiet",      "-no-progress", NULL
		};
		char *unset[] = { "SOURCE_DATE_EPOCH", NULL };
		/* The root directory is the invoking user's (-root-uid is
		 * ignored with -tar too): not root, it runs as a mapped root. */
		char *mapped[32] = { "unshare", "--map-root-user" };
		for (size_t i = 0; argv[i]; i++)
			mapped[i + 2] = argv[i];
		int rc = run_checked(b, "mksquashfs", geteuid() == 0 ? argv : mapped, NULL, unset,
				     in, -1, NULL);
		close(in);
		return rc;
	}
	int rc = make_tree(b, tar, tree);
	if (rc)
		return rc;
	if (!strcmp(fmt, "erofs")) {
		char t[40], u[48];
		snprintf(t, sizeof(t), "-T%s", epoch);
		snprintf(u, sizeof(u), "-U%s", uuid);
		char *argv[] = { "mkfs.erofs", "--quiet", t, u, (char *)image, tree, NULL };
		return run_checked(b, "mkfs.erofs", argv, NULL, NULL, -1, -1, NULL);
	}
	/* ext4: sized from the tar, times from E2FSPROGS_FAKE_TIME, hash seed
	 * and UUID fixed. mke2fs 1.47.0 adds files in the order the build's
	 * file system lists them: the same on one host, not across them. */
	struct stat st;
	if (stat(tar, &st) < 0)
		return fail(b, "%s: %s", tar, strerror(errno));
	char size[32], ext[128], fake[64];
	snprintf(size, sizeof(size), "%lldM", (long long)(st.st_size / 1048576 * 5 / 4 + 64));
	snprintf(ext, sizeof(ext), "hash_seed=%s,root_owner=0:0", uuid);
	snprintf(fake, sizeof(fake), "E2FSPROGS_FAKE_TIME=%s", epoch);
	char *argv[] = { "mke2fs", "-q", "-F", "-t",          "ext4", "-b", "4096",
			 "-m",     "0",  "-U", uuid,          "-E",   ext,  "-L",
			 "wisp",   "-d", tree, (char *)image, size,   NULL };
	char *env[] = { fake, NULL };
	return run_checked(b, "mke2fs", argv, env, NULL, -1, -1, NULL);
}

static int write_lock(struct build *b, const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return fail(b, "%s: %s", path, strerror(errno));
	fprintf(f, "# wisp image lock: the spec, SOURCE_DATE_EPOCH and every package version\n"
		   "# this image was built from. `wisp image build THIS_FILE` rebuilds it;\n"
		   "# `wisp image verify IMAGE` rebuilds it and compares.\n");
	if (b->s->epoch == IMAGE_EPOCH_AUTO)
		fprintf(f, "# SOURCE_DATE_EPOCH %lld: the newest package's build date\n", b->epoch);
	image_spec_write(b->s, f, IMAGE_TEXT_LOCK);
	return fclose(f) == 0 ? 0 : fail(b, "%s: %s", path, strerror(errno));
}

static void keep_failed_log(struct build *b)
{
	char kept[PATH_MAX + 32];
	snprintf(kept, sizeof(kept), "%s/last-failed-build.log", b->r->cache->images);
	rename(b->log, kept);
}

static int build_steps(struct build *b, struct image_result *out)
{
	int rc;
	if ((rc = resolve_suite(b)) || (rc = resolve_mirrors(b)) || (rc = resolve_packages(b)))
		return rc;
	if ((rc = key_of(b, out->key)))
		return rc;
	if (!b->r->scratch && !b->r->rebuild &&
	    image_cache_lookup(b->r->cache, out->key, b->s->format, out->path, sizeof(out->path))) {
		out->cached = 1;
		return 0;
	}
	if ((rc = fetch_packages(b)) || (rc = resolve_epoch(b)))
		return rc;
	char repo[PATH_MAX + 8], tar[PATH_MAX + 16], image[PATH_MAX + 32], lock[PATH_MAX + 32];
	if ((rc = make_repo(b, repo, sizeof(repo))) || (rc = make_stage(b)))
		return rc;
	time_t t = (time_t)b->epoch;
	char day[32];
	strftime(day, sizeof(day), "%Y-%m-%d", gmtime(&t));
	say(b, "installing %zu packages (SOURCE_DATE_EPOCH=%lld, %s)", b->s->npins, b->epoch, day);
	pathf(tar, sizeof(tar), "%s/root.tar", b->dir);
	if ((rc = bootstrap(b, repo, tar)))
		return rc;
	pathf(b->entry, sizeof(b->entry), "%s/entry", b->dir);
	pathf(image, sizeof(image), "%s/image.%s", b->entry, b->s->format);
	pathf(lock, sizeof(lock), "%s/image.lock", b->entry);
	if (mkdir(b->entry, 0755) < 0)
		return fail(b, "%s: %s", b->entry, strerror(errno));
	say(b, "making the %s image", b->s->format);
	if ((rc = make_image(b, tar, image, out->key)))
		return rc;
	free(b->s->sha256);
	b->s->sha256 = NULL;
	if (strcmp(b->s->format, "dir")) {
		if (image_file_sha256(b->r->guard, image, out->sha256) < 0)
			return fail(b, "hashing %s failed", image);
		b->s->sha256 = strdup(out->sha256);
	}
	return write_lock(b, lock);
}

int image_build(const struct image_request *r, struct image_result *out, char *err, size_t errlen)
{
	struct build b = { .r = r, .s = r->spec, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	double t0 = now_s();
	int lock_fd = -1, rc;
	if (image_spec_finish(r->spec, err, errlen) < 0)
		return -1;
	const char *fmt = r->spec->format;
	if (geteuid() != 0 && strcmp(fmt, "squashfs") && strcmp(fmt, "tar"))
		return err_fail(err, errlen,
				"%s images need root (the root's files are unpacked with their "
				"owners); as another user, build squashfs or tar",
				fmt);
	/* The modes of what the build makes (stage, tree) are the image's. */
	umask(022);
	if (r->scratch)
		snprintf(b.dir, sizeof(b.dir), "%s", r->scratch);
	else if (image_cache_begin(r->guard, r->cache, b.dir, sizeof(b.dir), &lock_fd, err,
				   errlen) < 0)
		return -1;
	/* mmdebstrap's unshare mode reads the stage and the repository as
	 * a subordinate uid. */
	if (chmod(b.dir, 0755) < 0) {
		close_fd(&lock_fd);
		return err_fail(err, errlen, "%s: %s", b.dir, strerror(errno));
	}
	pathf(b.log, sizeof(b.log), "%s/build.log", b.dir);
	rc = build_steps(&b, out);
	if (rc == -1)
		keep_failed_log(&b);
	if (rc == 0 && !out->cached) {
		if (r->scratch) {
			pathf(out->path, sizeof(out->path), "%s/image.%s", b.entry,
			      r->spec->format);
			pathf(out->lock, sizeof(out->lock), "%s/image.lock", b.entry);
		} else {
			rc = image_cache_commit(r->guard, r->cache, b.entry, out->key, r->rebuild,
						err, errlen);
		}
	}
	if (rc == 0 && !r->scratch) {
		image_cache_lookup(r->cache, out->key, r->spec->format, out->path,
				   sizeof(out->path));
		pathf(out->lock, sizeof(out->lock), "%s/%s/image.lock", r->cache->images, out->key);
		if (r->spec->name && image_cache_set_name(r->cache, r->spec->name, out->key) < 0)
			rc = err_fail(err, errlen, "cache name %s: %s", r->spec->name,
				      strerror(errno));
	}
	if (!r->scratch && !getenv("WISP_IMAGE_KEEP_BUILD"))
		image_remove_tree(r->guard, b.dir);
	close_fd(&lock_fd);
	out->seconds = now_s() - t0;
	return rc;
}

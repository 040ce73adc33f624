/* Image specs and locks: parsing and canonical text (image_spec.h). */
#include "image_spec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err_text.h"

#define EPOCH_MAX 4102444800LL /* 2100-01-01: far enough, and fits every tool */

static const char *const variants[] = { "minbase",   "essential", "apt",    "required",
					"important", "standard",  "buildd", NULL };
static const char *const formats[] = { "squashfs", "erofs", "ext4", "tar", "dir", NULL };

void image_spec_init(struct image_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->epoch = IMAGE_EPOCH_AUTO;
}

static void free_pins(struct image_spec *s)
{
	for (size_t i = 0; i < s->npins; i++) {
		free(s->pins[i].name);
		free(s->pins[i].version);
		free(s->pins[i].arch);
	}
	free(s->pins);
	s->pins = NULL;
	s->npins = 0;
}

void image_spec_free(struct image_spec *s)
{
	free(s->name);
	free(s->suite);
	free(s->variant);
	free(s->format);
	free(s->customize);
	free(s->mirror);
	free(s->security);
	free(s->sha256);
	for (size_t i = 0; i < s->npackages; i++)
		free(s->packages[i]);
	free(s->packages);
	for (size_t i = 0; i < s->nfiles; i++) {
		free(s->files[i].host);
		free(s->files[i].guest);
	}
	free(s->files);
	free_pins(s);
	image_spec_init(s);
}

static int one_of(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(v, *list))
			return 1;
	return 0;
}

/* Letters, digits and the given punctuation only; first a letter or digit. */
static int word_valid(const char *v, size_t max, const char *punct)
{
	size_t n = strlen(v);
	if (n == 0 || n > max || !isalnum((unsigned char)v[0]))
		return 0;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(punct, *p))
			return 0;
	return 1;
}

int image_name_valid(const char *name)
{
	/* Lower case so that names are what a file system and a user agree on. */
	for (const char *p = name; *p; p++)
		if (isupper((unsigned char)*p))
			return 0;
	return word_valid(name, IMAGE_NAME_MAX, "._:-");
}

int image_package_name_valid(const char *name)
{
	/* Debian policy 5.6.1: lower case, digits, + - . ; two characters. */
	for (const char *p = name; *p; p++)
		if (isupper((unsigned char)*p))
			return 0;
	return strlen(name) >= 2 && word_valid(name, 128, "+-.");
}

int image_version_valid(const char *version)
{
	/* Debian policy 5.6.12, with the epoch's colon. */
	return word_valid(version, 128, ".+~:-");
}

static int set_str(char **slot, const char *v)
{
	char *copy = strdup(v);
	if (!copy)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

/* An absolute path with no "." or ".." parts, in normal form: "/a/b". */
static int guest_path(const char *v, char *out, size_t size)
{
	if (v[0] != '/')
		return -1;
	size_t n = 0;
	const char *p = v;
	while (*p) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0)
			break;
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return -1;
		if (n + 1 + len >= size)
			return -1;
		out[n++] = '/';
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1; /* not the root itself */
}

/* A path as a lock line holds it: no control character (a newline would
 * end the line) and no blank at either end (trimmed when read back). */
static int lock_safe(const char *v)
{
	size_t n = strlen(v);
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return 0;
	return n == 0 || (v[0] != ' ' && v[n - 1] != ' ');
}

static int host_path(const char *v, const char *base_dir, char **out)
{
	if (v[0] == '/' || !base_dir)
		*out = strdup(v);
	else if (asprintf(out, "%s/%s", base_dir, v) < 0)
		*out = NULL;
	return *out ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_package(struct image_spec *s, const char *name, char *err, size_t errlen)
{
	if (!image_package_name_valid(name))
		return err_fail(err, errlen, "invalid package name '%s'", name);
	for (size_t i = 0; i < s->npackages; i++)
		if (!strcmp(s->packages[i], name))
			return 0;
	if (s->npackages >= IMAGE_MAX_PACKAGES)
		return err_fail(err, errlen, "too many packages (max %d)", IMAGE_MAX_PACKAGES);
	char **grown = realloc(s->packages, (s->npackages + 1) * sizeof(*grown));
	if (!grown)
		return err_fail(err, errlen, "out of memory");
	s->packages = grown;
	if (!(s->packages[s->npackages] = strdup(name)))
		return err_fail(err, errlen, "out of memory");
	s->npackages++;
	qsort(s->packages, s->npackages, sizeof(*s->packages), cmp_str);
	return 0;
}

/* "a b,c": packages separated by spaces or commas. */
static int add_packages(struct image_spec *s, const char *v, char *err, size_t errlen)
{
	char word[160];
	while (*v) {
		v += strspn(v, " \t,");
		size_t len = strcspn(v, " \t,");
		if (len == 0)
			break;
		if (len >= sizeof(word))
			return err_fail(err, errlen, "invalid package name '%.40s...'", v);
		memcpy(word, v, len);
		word[len] = '\0';
		if (add_package(s, word, err, errlen) < 0)
			return -1;
		v += len;
	}
	return 0;
}

/* HOST:GUEST, split at the last colon: GUEST is absolute and has none. */
static int add_file(struct image_spec *s, const char *v, const char *base_dir, char *err,
		    size_t errlen)
{
	const char *colon = strrchr(v, ':');
	char guest[4096];
	if (!colon || colon == v || guest_path(colon + 1, guest, sizeof(guest)) < 0)
		return err_fail(err, errlen,
				"invalid file '%s': want HOST:GUEST with GUEST an absolute path "
				"in the root (no . or ..)",
				v);
	if (!lock_safe(v) || !lock_safe(guest))
		return err_fail(err, errlen,
				"invalid file '%s': control character, or blank at an end", v);
	if (s->nfiles >= IMAGE_MAX_FILES)
		return err_fail(err, errlen, "too many files (max %d)", IMAGE_MAX_FILES);
	struct image_file *grown = realloc(s->files, (s->nfiles + 1) * sizeof(*grown));
	if (!grown)
		return err_fail(err, errlen, "out of memory");
	s->files = grown;
	char *host = strndup(v, (size_t)(colon - v));
	struct image_file *f = &s->files[s->nfiles];
	f->guest = strdup(guest);
	f->host = NULL;
	int bad = !host || !f->guest || host_path(host, base_dir, &f->host) < 0;
	free(host);
	if (bad) {
		free(f->guest);
		free(f->host);
		return err_fail(err, errlen, "out of memory");
	}
	s->nfiles++;
	return 0;
}

int image_spec_pin(struct image_spec *s, const char *name, const char *version, const char *arch,
		   char *err, size_t errlen)
{
	if (!image_package_name_valid(name) || !image_version_valid(version) ||
	    !word_valid(arch, 32, "-"))
		return err_fail(err, errlen, "invalid pin '%s=%s %s': want NAME=VERSION ARCH", name,
				version, arch);
	struct image_pin *p = NULL;
	for (size_t i = 0; i < s->npins && !p; i++)
		if (!strcmp(s->pins[i].name, name))
			p = &s->pins[i];
	if (!p) {
		if (s->npins >= IMAGE_MAX_PINS)
			return err_fail(err, errlen, "too many pins (max %d)", IMAGE_MAX_PINS);
		struct image_pin *grown = realloc(s->pins, (s->npins + 1) * sizeof(*grown));
		if (!grown)
			return err_fail(err, errlen, "out of memory");
		s->pins = grown;
		p = &s->pins[s->npins++];
		memset(p, 0, sizeof(*p));
	}
	if (set_str(&p->name, name) < 0 || set_str(&p->version, version) < 0 ||
	    set_str(&p->arch, arch) < 0)
		return err_fail(err, errlen, "out of memory");
	return 0;
}

/* "NAME=VERSION ARCH" */
static int add_pin(struct image_spec *s, const char *v, char *err, size_t errlen)
{
	char name[160], version[160], arch[40], extra;
	if (sscanf(v, "%159[^= ]=%159s %39s %c", name, version, arch, &extra) != 3)
		return err_fail(err, errlen, "invalid pin '%s': want NAME=VERSION ARCH", v);
	return image_spec_pin(s, name, version, arch, err, errlen);
}

static int set_epoch(struct image_spec *s, const char *v, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long long e = strtoll(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || errno || e > EPOCH_MAX)
		return err_fail(err, errlen,
				"invalid epoch '%s': want seconds since 1970 (SOURCE_DATE_EPOCH)",
				v);
	s->epoch = e;
	return 0;
}

static int uri_valid(const char *v)
{
	static const char *const schemes[] = { "http://", "https://", "file:/", "copy:/", NULL };
	int ok = 0;
	for (const char *const *p = schemes; *p; p++)
		ok |= !strncmp(v, *p, strlen(*p));
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\'' || *p == '\\' || *p == 0x7f)
			return 0;
	return ok && strlen(v) < 1024;
}

int image_spec_set(struct image_spec *s, const char *key, const char *v, const char *base_dir,
		   char *err, size_t errlen)
{
	if (!strcmp(key, "name")) {
		if (!image_name_valid(v))
			return err_fail(err, errlen,
					"invalid name '%s': want lower-case letters, digits and "
					"._:- (max %d)",
					v, IMAGE_NAME_MAX);
		return set_str(&s->name, v);
	}
	if (!strcmp(key, "suite")) {
		if (!word_valid(v, 32, "-.") || strchr(v, '/'))
			return err_fail(err, errlen, "invalid suite '%s'", v);
		return set_str(&s->suite, v);
	}
	if (!strcmp(key, "variant")) {
		if (!one_of(v, variants))
			return err_fail(err, errlen,
					"invalid variant '%s': want minbase, essential, apt, "
					"required, important, standard or buildd",
					v);
		return set_str(&s->variant, v);
	}
	if (!strcmp(key, "format")) {
		if (!one_of(v, formats))
			return err_fail(
				err, errlen,
				"invalid format '%s': want squashfs, erofs, ext4, tar or dir", v);
		return set_str(&s->format, v);
	}
	if (!strcmp(key, "packages") || !strcmp(key, "package"))
		return add_packages(s, v, err, errlen);
	if (!strcmp(key, "file"))
		return add_file(s, v, base_dir, err, errlen);
	if (!strcmp(key, "customize")) {
		free(s->customize);
		s->customize = NULL;
		if (!*v || !lock_safe(v) || host_path(v, base_dir, &s->customize) < 0)
			return err_fail(err, errlen, "invalid customize '%s'", v);
		return 0;
	}
	if (!strcmp(key, "mirror") || !strcmp(key, "security")) {
		int none = !strcmp(key, "security") && !strcmp(v, "none");
		if (!none && !uri_valid(v))
			return err_fail(err, errlen,
					"invalid %s '%s': want an http://, https://, file:/ or "
					"copy:/ URI",
					key, v);
		return set_str(!strcmp(key, "mirror") ? &s->mirror : &s->security, v);
	}
	if (!strcmp(key, "epoch"))
		return set_epoch(s, v, err, errlen);
	if (!strcmp(key, "pin"))
		return add_pin(s, v, err, errlen);
	if (!strcmp(key, "sha256")) {
		if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)
			return err_fail(err, errlen, "invalid sha256 '%s'", v);
		return set_str(&s->sha256, v);
	}
	return err_fail(err, errlen, "unknown key '%s'", key);
}

static char *trim(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		p[--n] = '\0';
	return p;
}

int image_spec_parse(struct image_spec *s, const char *text, const char *base_dir, char *err,
		     size_t errlen)
{
	char line[8192];
	unsigned lineno = 0;
	while (*text) {
		size_t len = strcspn(text, "\n");
		lineno++;
		if (len >= sizeof(line))
			return err_fail(err, errlen, "line %u: too long", lineno);
		memcpy(line, text, len);
		line[len] = '\0';
		text += len + (text[len] == '\n');
		char *l = trim(line);
		if (!*l || *l == '#')
			continue;
		char *eq = strchr(l, '=');
		if (!eq)
			return err_fail(err, errlen, "line %u: want key = value", lineno);
		*eq = '\0';
		char *key = trim(l), *value = trim(eq + 1);
		char why[512];
		if (image_spec_set(s, key, value, base_dir, why, sizeof(why)) < 0)
			return err_fail(err, errlen, "line %u: %s", lineno, why);
	}
	return 0;
}

static int cmp_pin(const void *a, const void *b)
{
	return strcmp(((const struct image_pin *)a)->name, ((const struct image_pin *)b)->name);
}

int image_spec_finish(struct image_spec *s, char *err, size_t errlen)
{
	if (!s->variant && set_str(&s->variant, "minbase") < 0)
		return err_fail(err, errlen, "out of memory");
	if (!s->format && set_str(&s->format, "squashfs") < 0)
		return err_fail(err, errlen, "out of memory");
	if (s->npins) /* qsort's array may not be NULL, even empty */
		qsort(s->pins, s->npins, sizeof(*s->pins), cmp_pin);
	/* A pinned build installs its pins and nothing else: what it asks for
	 * must be among them. */
	for (size_t i = 0; s->npins && i < s->npackages; i++) {
		struct image_pin key = { .name = s->packages[i] };
		if (!bsearch(&key, s->pins, s->npins, sizeof(*s->pins), cmp_pin))
			return err_fail(err, errlen,
					"package '%s' is not among the pins: a lock lists every "
					"package it installs",
					s->packages[i]);
	}
	return 0;
}

void image_spec_write(const struct image_spec *s, FILE *f, enum image_text what)
{
	int lock = what == IMAGE_TEXT_LOCK;
	if (lock && s->name)
		fprintf(f, "name = %s\n", s->name);
	if (s->suite)
		fprintf(f, "suite = %s\n", s->suite);
	fprintf(f, "variant = %s\n", s->variant ? s->variant : "minbase");
	fprintf(f, "format = %s\n", s->format ? s->format : "squashfs");
	if (s->mirror)
		fprintf(f, "mirror = %s\n", s->mirror);
	if (s->security)
		fprintf(f, "security = %s\n", s->security);
	for (size_t i = 0; i < s->npackages; i++)
		fprintf(f, "packages = %s\n", s->packages[i]);
	for (size_t i = 0; i < s->nfiles; i++)
		fprintf(f, "file = %s:%s\n", s->files[i].host, s->files[i].guest);
	if (s->customize)
		fprintf(f, "customize = %s\n", s->customize);
	if (s->epoch != IMAGE_EPOCH_AUTO)
		fprintf(f, "epoch = %lld\n", s->epoch);
	for (size_t i = 0; i < s->npins; i++)
		fprintf(f, "pin = %s=%s %s\n", s->pins[i].name, s->pins[i].version,
			s->pins[i].arch);
	if (lock && s->sha256)
		fprintf(f, "sha256 = %s\n", s->sha256);
}

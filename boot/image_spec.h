/* What a `wisp image` is built from: a spec (suite, variant, packages,
 * files, a customize script, the output format) and, once resolved, the
 * exact package versions and SOURCE_DATE_EPOCH that make its bytes. The
 * same text format serves both: a spec file, and the lock written beside
 * every image, which is a spec with its pins filled in. Pure: parsing and
 * writing only, no I/O beyond the FILE given. */
#ifndef WISP_IMAGE_SPEC_H
#define WISP_IMAGE_SPEC_H

#include <stddef.h>
#include <stdio.h>

#define IMAGE_NAME_MAX 64
#define IMAGE_MAX_PINS 8192
#define IMAGE_MAX_FILES 256
#define IMAGE_MAX_PACKAGES 1024
#define IMAGE_EPOCH_AUTO (-1LL)

/* A package at the version a build installs. */
struct image_pin {
	char *name;
	char *version;
	char *arch;
};

/* A host file copied into the root (its mode kept, owned by root). */
struct image_file {
	char *host;  /* absolute once the spec is read */
	char *guest; /* absolute, normalized */
};

struct image_spec {
	char *name;      /* cache name; NULL: none */
	char *suite;     /* NULL: the host's Debian codename */
	char *variant;   /* mmdebstrap's --variant */
	char *format;    /* squashfs, erofs, ext4, tar or dir */
	char *customize; /* a script run in the root; NULL: none */
	char *mirror;    /* NULL: the host's Debian mirror */
	char *security;  /* NULL: the host's; "none": no security suite */
	long long epoch; /* SOURCE_DATE_EPOCH; IMAGE_EPOCH_AUTO: the newest package's */
	char **packages; /* extra packages, sorted, unique */
	size_t npackages;
	struct image_file *files;
	size_t nfiles;
	struct image_pin *pins; /* sorted by name; none: resolve */
	size_t npins;
	char *sha256; /* the image's, from a lock; NULL in a spec */
};

void image_spec_init(struct image_spec *s);
void image_spec_free(struct image_spec *s);

/* Sets one key (a spec file's line or an option). Relative host paths are
 * taken from base_dir. 0, or -1 with one line in err. */
int image_spec_set(struct image_spec *s, const char *key, const char *value, const char *base_dir,
		   char *err, size_t errlen);
/* A whole spec file's text: "key = value" lines, '#' comments. Errors
 * name the line. */
int image_spec_parse(struct image_spec *s, const char *text, const char *base_dir, char *err,
		     size_t errlen);
/* Adds a pin ("NAME=VERSION ARCH" split); replaces one of the same name. */
int image_spec_pin(struct image_spec *s, const char *name, const char *version, const char *arch,
		   char *err, size_t errlen);
/* Sorts the pins and checks what must hold before a build: 0 or -1. */
int image_spec_finish(struct image_spec *s, char *err, size_t errlen);

/* The canonical text: every key in a fixed order, packages and pins
 * sorted. IMAGE_TEXT_LOCK is everything (what a rebuild reads back);
 * IMAGE_TEXT_KEY leaves out the name and the image's hash, which do not
 * change the bytes (the cache key hashes it). */
enum image_text { IMAGE_TEXT_KEY, IMAGE_TEXT_LOCK };
void image_spec_write(const struct image_spec *s, FILE *f, enum image_text what);

/* Checks for names that become file names and command-line words. */
int image_name_valid(const char *name);
int image_package_name_valid(const char *name);
int image_version_valid(const char *version);

#endif

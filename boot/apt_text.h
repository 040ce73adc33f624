/* What `wisp image` reads from Debian's tools and files: apt's simulated
 * install, apt's error lines, the host's apt sources and os-release, and
 * a .deb's build date. Pure: text in, values out. */
#ifndef WISP_APT_TEXT_H
#define WISP_APT_TEXT_H

#include <stddef.h>

#include "image_spec.h"

/* Pins every "Inst NAME (VERSION ARCHIVE [ARCH])" line of apt-get
 * --simulate's output into s. The number of packages, or -1 with err. */
int apt_sim_pins(struct image_spec *s, const char *text, char *err, size_t errlen);

/* The first apt or dpkg error in a log ("E: ..." that is not mmdebstrap's
 * own summary), without the "E: ". 1 if found, 0 if not. */
int apt_error_line(const char *log, char *out, size_t size);

/* The URI of the first "deb" source of suite (exactly) with component main:
 * in a one-line sources.list (deb822 = 0) or a deb822 .sources file. 1 with
 * the URI in out, 0 when there is none. */
int apt_source_uri(const char *text, int deb822, const char *suite, char *out, size_t size);

/* VERSION_CODENAME of an os-release text: 1 with it in out, or 0. */
int os_release_codename(const char *text, char *out, size_t size);

/* The date a .deb was built (the mtime of its first ar member, which
 * dpkg-deb takes from SOURCE_DATE_EPOCH), from its first bytes; -1 when
 * buf is not a Debian package. */
#define DEB_HEADER_SIZE 72 /* "!<arch>\n", a 60-byte member header, "2.0\n" */
long long deb_build_date(const unsigned char *buf, size_t len);

/* The file name apt gives NAME's VERSION for ARCH in its archive cache:
 * NAME_VERSION_ARCH.deb, the epoch's colon written "%3a". 0, or -1 when it
 * does not fit. */
int deb_file_name(const char *name, const char *version, const char *arch, char *out, size_t size);

#endif

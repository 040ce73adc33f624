/* Reading apt's, dpkg's and the host's text (apt_text.h). */
#include "apt_text.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err_text.h"

/* Copies the line at *text into line (cut to size) and moves past it. */
static int next_line(const char **text, char *line, size_t size)
{
	if (!**text)
		return 0;
	size_t len = strcspn(*text, "\n");
	size_t keep = len < size - 1 ? len : size - 1;
	memcpy(line, *text, keep);
	line[keep] = '\0';
	*text += len + ((*text)[len] == '\n');
	return 1;
}

int apt_sim_pins(struct image_spec *s, const char *text, char *err, size_t errlen)
{
	char line[1024];
	int n = 0;
	while (next_line(&text, line, sizeof(line))) {
		char name[160], version[160], arch[40];
		/* Inst NAME (VERSION ARCHIVE... [ARCH]) */
		if (strncmp(line, "Inst ", 5) ||
		    sscanf(line, "Inst %159s (%159s", name, version) != 2)
			continue;
		/* The first bracket after the version: "[]" may follow. */
		const char *open = strchr(strchr(line, '('), '[');
		if (!open || sscanf(open, "[%39[a-z0-9-]]", arch) != 1)
			return err_fail(err, errlen, "apt: unexpected line '%.200s'", line);
		if (image_spec_pin(s, name, version, arch, err, errlen) < 0)
			return -1;
		n++;
	}
	return n;
}

int apt_error_line(const char *log, char *out, size_t size)
{
	char line[1024];
	while (next_line(&log, line, sizeof(line))) {
		if (strncmp(line, "E: ", 3))
			continue;
		/* mmdebstrap repeats a failed step's command and gives up after. */
		if (strstr(line, " failed") &&
		    (strstr(line, "apt-get ") || strstr(line, "mmdebstrap")))
			continue;
		snprintf(out, size, "%s", line + 3);
		return 1;
	}
	return 0;
}

static int word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; *p;) {
		p += strspn(p, " \t");
		size_t len = strcspn(p, " \t");
		if (len == n && !strncmp(p, word, n))
			return 1;
		p += len;
	}
	return 0;
}

/* "deb [opts] URI SUITE COMPONENT..." */
static int list_line_uri(char *line, const char *suite, char *out, size_t size)
{
	char *p = line + strspn(line, " \t");
	if (strncmp(p, "deb", 3) || (p[3] != ' ' && p[3] != '\t'))
		return 0;
	p += 3 + strspn(p + 3, " \t");
	if (*p == '[') {
		char *close = strchr(p, ']');
		if (!close)
			return 0;
		p = close + 1 + strspn(close + 1, " \t");
	}
	char uri[1024], dist[128];
	int used = 0;
	if (sscanf(p, "%1023s %127s %n", uri, dist, &used) < 2 || !used)
		return 0;
	if (strcmp(dist, suite) || !word_in(p + used, "main"))
		return 0;
	snprintf(out, size, "%s", uri);
	return 1;
}

/* One deb822 paragraph's fields, each cut to its buffer. */
struct stanza {
	char types[256], uris[1024], suites[512], components[256], enabled[16];
};

/* apt reads Enabled as a boolean (StringToBool): these words are false. */
static int disabled(const char *v)
{
	static const char *const no[] = { "no", "false", "without", "off", "disable", "0", NULL };
	for (const char *const *p = no; *p; p++)
		if (!strcasecmp(v, *p))
			return 1;
	return 0;
}

static int stanza_uri(const struct stanza *st, const char *suite, char *out, size_t size)
{
	if (!word_in(st->types, "deb") || !word_in(st->suites, suite) ||
	    !word_in(st->components, "main") || disabled(st->enabled))
		return 0;
	const char *u = st->uris + strspn(st->uris, " \t");
	size_t len = strcspn(u, " \t");
	if (len == 0 || len >= size)
		return 0;
	memcpy(out, u, len);
	out[len] = '\0';
	return 1;
}

static void stanza_field(struct stanza *st, const char *line)
{
	static const struct {
		const char *key;
		size_t off, size;
	} fields[] = {
		{ "Types:", offsetof(struct stanza, types), sizeof(((struct stanza *)0)->types) },
		{ "URIs:", offsetof(struct stanza, uris), sizeof(((struct stanza *)0)->uris) },
		{ "Suites:", offsetof(struct stanza, suites),
		  sizeof(((struct stanza *)0)->suites) },
		{ "Components:", offsetof(struct stanza, components),
		  sizeof(((struct stanza *)0)->components) },
		{ "Enabled:", offsetof(struct stanza, enabled),
		  sizeof(((struct stanza *)0)->enabled) },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t n = strlen(fields[i].key);
		if (strncasecmp(line, fields[i].key, n))
			continue;
		const char *v = line + n + strspn(line + n, " \t");
		char *f = (char *)st + fields[i].off;
		snprintf(f, fields[i].size, "%s", v);
		for (size_t len = strlen(f); len && strchr(" \t\r", f[len - 1]); len--)
			f[len - 1] = '\0'; /* apt drops a value's trailing blanks */
	}
}

int apt_source_uri(const char *text, int deb822, const char *suite, char *out, size_t size)
{
	char line[2048];
	struct stanza st;
	memset(&st, 0, sizeof(st));
	while (next_line(&text, line, sizeof(line))) {
		if (line[0] == '#')
			continue;
		if (!deb822) {
			if (list_line_uri(line, suite, out, size))
				return 1;
			continue;
		}
		if (line[strspn(line, " \t\r")] == '\0') {
			if (stanza_uri(&st, suite, out, size))
				return 1;
			memset(&st, 0, sizeof(st));
			continue;
		}
		stanza_field(&st, line);
	}
	return deb822 && stanza_uri(&st, suite, out, size);
}

int os_release_codename(const char *text, char *out, size_t size)
{
	char line[512];
	while (next_line(&text, line, sizeof(line))) {
		if (strncmp(line, "VERSION_CODENAME=", 17))
			continue;
		char *v = line + 17;
		size_t n = strlen(v);
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		if (!*v)
			return 0;
		snprintf(out, size, "%s", v);
		return 1;
	}
	return 0;
}

long long deb_build_date(const unsigned char *buf, size_t len)
{
	/* ar: "!<arch>\n", then per member a 60-byte header: name[16],
	 * mtime[12] (decimal), ...; a .deb's first member is debian-binary. */
	if (len < DEB_HEADER_SIZE || memcmp(buf, "!<arch>\n", 8) ||
	    memcmp(buf + 8, "debian-binary", 13))
		return -1;
	/* Digits, then the spaces that pad the field. */
	long long t = 0;
	size_t i = 24, end = 36;
	for (; i < end && isdigit(buf[i]); i++)
		t = t * 10 + (buf[i] - '0'); /* 12 digits fit a long long */
	int digits = i > 24;
	for (; i < end; i++)
		if (buf[i] != ' ')
			return -1;
	return digits ? t : -1;
}

int deb_file_name(const char *name, const char *version, const char *arch, char *out, size_t size)
{
	size_t n = 0;
	int w = snprintf(out, size, "%s_", name);
	if (w < 0 || (size_t)w >= size)
		return -1;
	n = (size_t)w;
	for (const char *p = version; *p; p++) {
		const char *piece = *p == ':' ? "%3a" : NULL;
		size_t len = piece ? 3 : 1;
		if (n + len >= size)
			return -1;
		if (piece)
			memcpy(out + n, piece, 3);
		else
			out[n] = *p;
		n += len;
	}
	w = snprintf(out + n, size - n, "_%s.deb", arch);
	return w < 0 || (size_t)w >= size - n ? -1 : 0;
}

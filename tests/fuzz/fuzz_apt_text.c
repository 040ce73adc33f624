/* libFuzzer target: any bytes through everything `wisp image` parses of
 * text it did not write: apt's simulated install, its logs, the host's
 * sources (one-line and deb822), os-release, a .deb's first bytes and a
 * spec or lock. Nothing may fault or leak, every string handed out is
 * NUL-terminated inside its buffer, and a spec that parses writes a lock
 * that parses back into the same text. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../boot/apt_text.h"
#include "../../boot/image_spec.h"

/* out was filled by a parser that returned found: it must hold a string. */
static void terminated(const char *out, size_t size, int found)
{
	if (found && !memchr(out, '\0', size))
		abort();
}

static char *written(const struct image_spec *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	image_spec_write(s, f, IMAGE_TEXT_LOCK);
	fclose(f);
	return text;
}

static void spec(const char *text)
{
	struct image_spec s, again;
	char err[256];
	image_spec_init(&s);
	if (image_spec_parse(&s, text, "/base", err, sizeof(err)) < 0 ||
	    image_spec_finish(&s, err, sizeof(err)) < 0) {
		terminated(err, sizeof(err), 1);
		image_spec_free(&s);
		return;
	}
	/* What was accepted is written so that it reads back the same. */
	char *lock = written(&s);
	image_spec_init(&again);
	if (image_spec_parse(&again, lock, "/elsewhere", err, sizeof(err)) < 0 ||
	    image_spec_finish(&again, err, sizeof(err)) < 0) {
		fprintf(stderr, "lock refused: %s\n%s", err, lock);
		abort();
	}
	char *lock2 = written(&again);
	if (strcmp(lock, lock2)) {
		fprintf(stderr, "lock changed:\n%s---\n%s", lock, lock2);
		abort();
	}
	free(lock);
	free(lock2);
	image_spec_free(&again);
	image_spec_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	int n = apt_sim_pins(&s, text, err, sizeof(err));
	if (n < 0)
		terminated(err, sizeof(err), 1);
	else if (s.npins > (size_t)n)
		abort();
	image_spec_free(&s);

	char out[64] = "";
	int found = apt_error_line(text, out, sizeof(out));
	terminated(out, sizeof(out), found);
	/* Debian's suite, and the input's first word as one. */
	char first[40] = "";
	sscanf(text, "%39s", first);
	const char *suites[] = { "bookworm", first };
	for (int i = 0; i < 2; i++) {
		for (int deb822 = 0; deb822 < 2; deb822++) {
			found = apt_source_uri(text, deb822, suites[i], out, sizeof(out));
			terminated(out, sizeof(out), found);
		}
	}
	found = os_release_codename(text, out, sizeof(out));
	terminated(out, sizeof(out), found);

	long long t = deb_build_date(data, size);
	if (t < -1 || t > 999999999999LL)
		abort();

	spec(text);
	free(text);
	return 0;
}

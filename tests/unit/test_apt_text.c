/* Unit tests of what `wisp image` reads from Debian's tools and files
 * (boot/apt_text.c): the pins of apt's simulated install, apt's error line
 * among mmdebstrap's, the host's mirror from one-line and deb822 sources,
 * the os-release codename, a .deb's build date from its ar header, and
 * the file name apt caches a package under. */
#include <stdlib.h>
#include <string.h>

#include "../../boot/apt_text.h"
#include "check.h"

static const struct image_pin *pin_named(const struct image_spec *s, const char *name)
{
	for (size_t i = 0; i < s->npins; i++)
		if (!strcmp(s->pins[i].name, name))
			return &s->pins[i];
	return NULL;
}

static void check_pin(const struct image_spec *s, const char *name, const char *version,
		      const char *arch)
{
	const struct image_pin *p = pin_named(s, name);
	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_STR(p->version, version);
	CHECK_STR(p->arch, arch);
}

static void test_sim_pins_every_inst_line(void)
{
	const char *log =
		"I: automatically chosen mode: unshare\n"
		"Reading package lists...\n"
		"Building dependency tree...\n"
		"The following NEW packages will be installed:\n"
		"  gcc-12-base libc6 libgcc-s1 tzdata\n"
		"0 upgraded, 4 newly installed, 0 to remove and 0 not upgraded.\n"
		"Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])\n"
		"Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64]) []\n"
		"Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []\n"
		"Inst tzdata (2025b-0+deb12u2 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [all])\n"
		"Inst bsdutils (1:2.38.1-5+deb12u3 Debian:12.15/oldstable [amd64])\r\n"
		"Conf gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])\n"
		"Conf libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])\n"
		"Installing the packages\n"
		" Inst indented (1.0 Debian:12 [amd64])\n"
		"Inst\n"
		"Inst nobracket\n"
		"I: success in 2.1 seconds";
	struct image_spec s;
	char err[256] = "";
	image_spec_init(&s);
	CHECK_INT(apt_sim_pins(&s, log, err, sizeof(err)), 5);
	CHECK_STR(err, "");
	CHECK_INT(s.npins, 5);
	check_pin(&s, "gcc-12-base", "12.2.0-14+deb12u1", "amd64");
	check_pin(&s, "libgcc-s1", "12.2.0-14+deb12u1", "amd64");
	check_pin(&s, "libc6", "2.36-9+deb12u14", "amd64");
	check_pin(&s, "tzdata", "2025b-0+deb12u2", "all");
	check_pin(&s, "bsdutils", "1:2.38.1-5+deb12u3", "amd64");
	CHECK(pin_named(&s, "indented") == NULL);
	CHECK(pin_named(&s, "nobracket") == NULL);
	image_spec_free(&s);

	/* No Inst line: nothing pinned, which the caller refuses. */
	image_spec_init(&s);
	CHECK_INT(apt_sim_pins(&s, "", err, sizeof(err)), 0);
	CHECK_INT(apt_sim_pins(&s, "E: Unable to locate package nosuch\n", err, sizeof(err)), 0);
	CHECK_INT(s.npins, 0);
	image_spec_free(&s);
}

static void test_sim_pins_refuses_what_it_cannot_pin(void)
{
	struct image_spec s;
	char err[256];
	/* An Inst line without its architecture. */
	image_spec_init(&s);
	CHECK_INT(
		apt_sim_pins(&s, "Inst libc6 (2.36-9 Debian:12.15/oldstable)\n", err, sizeof(err)),
		-1);
	CHECK_STR(err, "apt: unexpected line 'Inst libc6 (2.36-9 Debian:12.15/oldstable)'");
	image_spec_free(&s);
	image_spec_init(&s);
	CHECK_INT(apt_sim_pins(&s, "Inst libc6 (2.36-9 Debian:12 [AMD64])\n", err, sizeof(err)),
		  -1);
	CHECK(strstr(err, "apt: unexpected line") == err);
	image_spec_free(&s);
	/* A name or version a pin cannot hold. */
	image_spec_init(&s);
	CHECK_INT(apt_sim_pins(&s,
			       "Inst libc6 (2.36 Debian:12 [amd64])\n"
			       "Inst Evil/../x (1.0 Debian:12 [amd64])\n",
			       err, sizeof(err)),
		  -1);
	CHECK(strstr(err, "invalid pin 'Evil/../x=1.0 amd64'") == err);
	image_spec_free(&s);
	image_spec_init(&s);
	CHECK_INT(apt_sim_pins(&s, "Inst x11-common ($(id) Debian:12 [all])\n", err, sizeof(err)),
		  -1);
	CHECK(strstr(err, "invalid pin") == err);
	image_spec_free(&s);
}

static void test_sim_pins_later_line_replaces_the_pin(void)
{
	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	CHECK_INT(image_spec_pin(&s, "libc6", "2.36-9", "amd64", err, sizeof(err)), 0);
	CHECK_INT(apt_sim_pins(&s, "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])\n",
			       err, sizeof(err)),
		  1);
	CHECK_INT(s.npins, 1);
	check_pin(&s, "libc6", "2.36-9+deb12u14", "amd64");
	image_spec_free(&s);
}

static void test_error_line_skips_mmdebstrap_summaries(void)
{
	char out[256] = "";
	const char *log = "I: running apt-get update...\n"
			  "W: Some index files failed to download\n"
			  "E: setup failed: E: apt-get --yes -oApt::Get::Download-Only=true "
			  "install failed\n"
			  "E: Unable to locate package nosuch\n"
			  "E: mmdebstrap failed to run\n";
	CHECK_INT(apt_error_line(log, out, sizeof(out)), 1);
	CHECK_STR(out, "Unable to locate package nosuch");

	/* apt's own line first, the summaries after. */
	CHECK_INT(apt_error_line("E: Package 'x' has no installation candidate\n"
				 "E: mmdebstrap failed to run",
				 out, sizeof(out)),
		  1);
	CHECK_STR(out, "Package 'x' has no installation candidate");

	/* An error that mentions neither apt-get nor mmdebstrap is apt's,
	 * even with "failed" in it. */
	CHECK_INT(apt_error_line("E: Sub-process /usr/bin/dpkg returned an error code (1)\n", out,
				 sizeof(out)),
		  1);
	CHECK_STR(out, "Sub-process /usr/bin/dpkg returned an error code (1)");
	CHECK_INT(
		apt_error_line("E: Method http has died unexpectedly! failed\n", out, sizeof(out)),
		1);
	CHECK_STR(out, "Method http has died unexpectedly! failed");

	memcpy(out, "untouched", 10);
	CHECK_INT(apt_error_line("E: setup failed: E: apt-get --yes install failed\n"
				 "E: mmdebstrap failed to run\n",
				 out, sizeof(out)),
		  0);
	CHECK_INT(apt_error_line("", out, sizeof(out)), 0);
	CHECK_INT(apt_error_line("W: only a warning\n  E: indented\nError: not apt's\nE:", out,
				 sizeof(out)),
		  0);
	CHECK_STR(out, "untouched");

	/* Cut to the buffer. */
	char small[8];
	CHECK_INT(apt_error_line("E: Unable to locate package nosuch", small, sizeof(small)), 1);
	CHECK_STR(small, "Unable ");
}

static void test_source_uri_one_line(void)
{
	char out[1024];
	const char *list = "# deb http://commented/debian bookworm main\n"
			   "deb-src http://src/debian bookworm main\n"
			   "deb http://other/debian trixie main\n"
			   "deb http://nomain/debian bookworm contrib non-free\n"
			   "deb [arch=amd64 signed-by=/x] http://m/debian bookworm main contrib\n"
			   "deb http://later/debian bookworm main\n"
			   "deb http://security.debian.org/debian-security bookworm-security main\n"
			   "\tdeb\thttp://tabs/debian\tbookworm-updates\tcontrib\tmain\n";
	CHECK_INT(apt_source_uri(list, 0, "bookworm", out, sizeof(out)), 1);
	CHECK_STR(out, "http://m/debian");
	CHECK_INT(apt_source_uri(list, 0, "bookworm-security", out, sizeof(out)), 1);
	CHECK_STR(out, "http://security.debian.org/debian-security");
	CHECK_INT(apt_source_uri(list, 0, "bookworm-updates", out, sizeof(out)), 1);
	CHECK_STR(out, "http://tabs/debian");
	CHECK_INT(apt_source_uri(list, 0, "trixie", out, sizeof(out)), 1);
	CHECK_STR(out, "http://other/debian");
	CHECK_INT(apt_source_uri(list, 0, "bullseye", out, sizeof(out)), 0);
	/* The suite is matched whole. */
	CHECK_INT(apt_source_uri(list, 0, "book", out, sizeof(out)), 0);
	CHECK_INT(apt_source_uri(list, 0, "bookworm-proposed-updates", out, sizeof(out)), 0);

	CHECK_INT(apt_source_uri("deb-src http://src/debian bookworm main\n", 0, "bookworm", out,
				 sizeof(out)),
		  0);
	CHECK_INT(apt_source_uri("deb [arch=amd64 http://m/debian bookworm main\n", 0, "bookworm",
				 out, sizeof(out)),
		  0);
	CHECK_INT(
		apt_source_uri("deb http://m/debian\ndeb\ndeb \n", 0, "bookworm", out, sizeof(out)),
		0);
	CHECK_INT(apt_source_uri("debian http://m/debian bookworm main\n", 0, "bookworm", out,
				 sizeof(out)),
		  0);
	CHECK_INT(apt_source_uri("deb http://m/debian bookworm mainly\n", 0, "bookworm", out,
				 sizeof(out)),
		  0);
	/* A deb822 file read as one-line has no deb lines. */
	CHECK_INT(apt_source_uri("Types: deb\nURIs: http://m/debian\nSuites: bookworm\n"
				 "Components: main\n",
				 0, "bookworm", out, sizeof(out)),
		  0);
}

static const char debian_sources[] = "Types: deb\n"
				     "URIs: http://deb.debian.org/debian\n"
				     "Suites: bookworm bookworm-updates\n"
				     "Components: main\n"
				     "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
				     "\n"
				     "Types: deb\n"
				     "URIs: http://deb.debian.org/debian-security\n"
				     "Suites: bookworm-security\n"
				     "Components: main\n"
				     "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

static void test_source_uri_deb822(void)
{
	char out[1024];
	CHECK_INT(apt_source_uri(debian_sources, 1, "bookworm", out, sizeof(out)), 1);
	CHECK_STR(out, "http://deb.debian.org/debian");
	CHECK_INT(apt_source_uri(debian_sources, 1, "bookworm-updates", out, sizeof(out)), 1);
	CHECK_STR(out, "http://deb.debian.org/debian");
	CHECK_INT(apt_source_uri(debian_sources, 1, "bookworm-security", out, sizeof(out)), 1);
	CHECK_STR(out, "http://deb.debian.org/debian-security");
	CHECK_INT(apt_source_uri(debian_sources, 1, "trixie", out, sizeof(out)), 0);
	CHECK_INT(apt_source_uri(debian_sources, 1, "book", out, sizeof(out)), 0);
	/* The first stanza alone gives no security mirror. */
	char first[256];
	snprintf(first, sizeof(first), "%.*s",
		 (int)(strstr(debian_sources, "\n\n") - debian_sources), debian_sources);
	CHECK_INT(apt_source_uri(first, 1, "bookworm-security", out, sizeof(out)), 0);
	CHECK_INT(apt_source_uri(first, 1, "bookworm", out, sizeof(out)), 1);
	/* A one-line reading of a deb822 file finds nothing, and the
	 * other way round. */
	CHECK_INT(apt_source_uri(debian_sources, 0, "bookworm", out, sizeof(out)), 0);
	CHECK_INT(apt_source_uri("deb http://m/debian bookworm main\n", 1, "bookworm", out,
				 sizeof(out)),
		  0);
}

static void test_source_uri_deb822_skips_what_apt_skips(void)
{
	char out[1024];
	const char *text = "# disabled\n"
			   "Types: deb\n"
			   "Enabled: no\n"
			   "URIs: http://disabled/debian\n"
			   "Suites: bookworm\n"
			   "Components: main\n"
			   "\n"
			   "Types: deb-src\n"
			   "URIs: http://src/debian\n"
			   "Suites: bookworm\n"
			   "Components: main\n"
			   "\n"
			   "Types: deb\n"
			   "URIs: http://contrib/debian\n"
			   "Suites: bookworm\n"
			   "Components: contrib non-free\n"
			   "\n"
			   "\n"
			   "types: deb-src deb\n"
			   "uris: http://m/debian http://second/debian\n"
			   "# a comment inside\n"
			   "suites: bookworm\n"
			   "Signed-By:\n"
			   " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
			   " .\n"
			   " Types: deb\n"
			   " URIs: http://key/debian\n"
			   " -----END PGP PUBLIC KEY BLOCK-----\n"
			   "components: main\n"
			   "Enabled: yes\n";
	CHECK_INT(apt_source_uri(text, 1, "bookworm", out, sizeof(out)), 1);
	CHECK_STR(out, "http://m/debian");

	/* apt reads Enabled as a boolean: any of its words for false. */
	static const char *const off[] = { "no", "No",      "false",   "FALSE", "off",
					   "0",  "disable", "without", "no ",   NULL };
	for (int i = 0; off[i]; i++) {
		char one[256];
		snprintf(one, sizeof(one),
			 "Types: deb\nURIs: http://off/debian\nSuites: bookworm\nComponents: main\n"
			 "Enabled: %s\n",
			 off[i]);
		int found = apt_source_uri(one, 1, "bookworm", out, sizeof(out));
		if (found) {
			check_failed++;
			fprintf(stderr, "%s:%d: Enabled: '%s' taken as enabled\n", __FILE__,
				__LINE__, off[i]);
		} else {
			check_passed++;
		}
	}
	static const char *const on[] = { "yes", "Yes", "true", "1", NULL };
	for (int i = 0; on[i]; i++) {
		char one[256];
		snprintf(one, sizeof(one),
			 "Types: deb\nURIs: http://on/debian\nSuites: bookworm\nComponents: main\n"
			 "Enabled: %s\n",
			 on[i]);
		CHECK_INT(apt_source_uri(one, 1, "bookworm", out, sizeof(out)), 1);
	}
}

static void test_source_uri_refuses_a_uri_too_long_for_out(void)
{
	char out[16];
	CHECK_INT(apt_source_uri(debian_sources, 1, "bookworm", out, sizeof(out)), 0);
	char fits[29];
	CHECK_INT(apt_source_uri(debian_sources, 1, "bookworm", fits, sizeof(fits)), 1);
	CHECK_STR(fits, "http://deb.debian.org/debian");
}

static void test_os_release_codename(void)
{
	char out[64];
	const char *bookworm = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
			       "NAME=\"Debian GNU/Linux\"\n"
			       "VERSION_ID=\"12\"\n"
			       "VERSION=\"12 (bookworm)\"\n"
			       "VERSION_CODENAME=bookworm\n"
			       "ID=debian\n";
	CHECK_INT(os_release_codename(bookworm, out, sizeof(out)), 1);
	CHECK_STR(out, "bookworm");
	CHECK_INT(os_release_codename("ID=debian\nVERSION_CODENAME=\"trixie\"", out, sizeof(out)),
		  1);
	CHECK_STR(out, "trixie");
	CHECK_INT(os_release_codename("VERSION_CODENAME='sid'\n", out, sizeof(out)), 1);
	CHECK_STR(out, "sid");
	/* The first one counts. */
	CHECK_INT(
		os_release_codename("VERSION_CODENAME=a1\nVERSION_CODENAME=b2\n", out, sizeof(out)),
		1);
	CHECK_STR(out, "a1");

	memcpy(out, "untouched", 10);
	CHECK_INT(os_release_codename("", out, sizeof(out)), 0);
	CHECK_INT(os_release_codename("ID=debian\nVERSION_ID=\"12\"\n", out, sizeof(out)), 0);
	CHECK_INT(os_release_codename("VERSION_CODENAME=\n", out, sizeof(out)), 0);
	CHECK_INT(os_release_codename("VERSION_CODENAME=\"\"\n", out, sizeof(out)), 0);
	CHECK_INT(os_release_codename(" VERSION_CODENAME=x\n", out, sizeof(out)), 0);
	CHECK_STR(out, "untouched");
	char small[4];
	CHECK_INT(os_release_codename("VERSION_CODENAME=bookworm", small, sizeof(small)), 1);
	CHECK_STR(small, "boo");
}

/* The first DEB_HEADER_SIZE bytes of a .deb whose first member is name,
 * its mtime field given: "!<arch>\n", the member's 60-byte header (name,
 * mtime, uid, gid, mode, size, "`\n"), then the member's "2.0\n". */
static void deb_header(unsigned char *buf, const char *name, const char *mtime)
{
	char hdr[DEB_HEADER_SIZE + 1];
	int n = snprintf(hdr, sizeof(hdr), "!<arch>\n%-16.16s%-12.12s%-6s%-6s%-8s%-10s`\n2.0\n",
			 name, mtime, "0", "0", "100644", "4");
	CHECK_INT(n, DEB_HEADER_SIZE);
	memcpy(buf, hdr, DEB_HEADER_SIZE);
}

static void test_deb_build_date_from_the_ar_header(void)
{
	unsigned char buf[DEB_HEADER_SIZE + 8];
	memset(buf, 0, sizeof(buf));
	deb_header(buf, "debian-binary", "1760000000");
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), 1760000000);
	CHECK_INT(deb_build_date(buf, sizeof(buf)), 1760000000);
	/* The header must be all there. */
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE - 1), -1);
	CHECK_INT(deb_build_date(buf, 0), -1);
	deb_header(buf, "debian-binary", "0");
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), 0);
	deb_header(buf, "debian-binary", "999999999999");
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), 999999999999LL);
	/* deb(5): a member's name may end in a slash. */
	deb_header(buf, "debian-binary/", "1700000000");
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), 1700000000);

	/* Not a .deb: another archive, another first member, no magic. */
	deb_header(buf, "control.tar.xz", "1700000000");
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), -1);
	deb_header(buf, "debian-binary", "1700000000");
	memcpy(buf, "!<arch>\r", 8);
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), -1);
	memset(buf, 0, sizeof(buf));
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), -1);

	/* A garbled mtime. */
	static const char *const bad[] = { "",           " 1700000000", "-1",
					   "17000x0000", "1700000000x", "1700 000000",
					   "+1700",      "0x10",        NULL };
	for (int i = 0; bad[i]; i++) {
		deb_header(buf, "debian-binary", bad[i]);
		long long t = deb_build_date(buf, DEB_HEADER_SIZE);
		if (t != -1) {
			check_failed++;
			fprintf(stderr, "%s:%d: mtime '%s': expected -1, saw %lld\n", __FILE__,
				__LINE__, bad[i], t);
		} else {
			check_passed++;
		}
	}
	deb_header(buf, "debian-binary", "1700000000");
	buf[24 + 11] = '\0'; /* a NUL where a space pads */
	CHECK_INT(deb_build_date(buf, DEB_HEADER_SIZE), -1);
}

static void test_deb_file_name_escapes_the_epoch(void)
{
	char out[128];
	CHECK_INT(deb_file_name("bsdutils", "1:2.38.1-5+deb12u3", "amd64", out, sizeof(out)), 0);
	CHECK_STR(out, "bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb");
	CHECK_INT(deb_file_name("libc6", "2.36-9+deb12u14", "amd64", out, sizeof(out)), 0);
	CHECK_STR(out, "libc6_2.36-9+deb12u14_amd64.deb");
	CHECK_INT(deb_file_name("tzdata", "2025b-0+deb12u2", "all", out, sizeof(out)), 0);
	CHECK_STR(out, "tzdata_2025b-0+deb12u2_all.deb");

	/* Exactly the size, and one byte short. */
	const char *want = "bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb";
	size_t n = strlen(want) + 1;
	char *exact = malloc(n);
	CHECK_INT(deb_file_name("bsdutils", "1:2.38.1-5+deb12u3", "amd64", exact, n), 0);
	CHECK_STR(exact, want);
	free(exact);
	for (size_t size = 1; size < n; size++) {
		char *tight = malloc(size);
		int rc = deb_file_name("bsdutils", "1:2.38.1-5+deb12u3", "amd64", tight, size);
		if (rc != -1) {
			check_failed++;
			fprintf(stderr, "%s:%d: size %zu: expected -1\n", __FILE__, __LINE__, size);
		} else {
			check_passed++;
		}
		free(tight);
	}
}

int main(void)
{
	test_sim_pins_every_inst_line();
	test_sim_pins_refuses_what_it_cannot_pin();
	test_sim_pins_later_line_replaces_the_pin();
	test_error_line_skips_mmdebstrap_summaries();
	test_source_uri_one_line();
	test_source_uri_deb822();
	test_source_uri_deb822_skips_what_apt_skips();
	test_source_uri_refuses_a_uri_too_long_for_out();
	test_os_release_codename();
	test_deb_build_date_from_the_ar_header();
	test_deb_file_name_escapes_the_epoch();
	return check_summary("test_apt_text");
}

/* Unit tests of `wisp image`'s specs and locks (boot/image_spec.c): every
 * key read, every bad value refused with the line it is on, packages kept
 * sorted and unique, pins replaced by name, the checks before a build, and
 * the canonical text, which reads back into the same text. */
#include <stdlib.h>
#include <string.h>

#include "../../boot/image_spec.h"
#include "check.h"

/* The text image_spec_write gives, in a malloc'd string. */
static char *written(const struct image_spec *s, enum image_text what)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (!f)
		return strdup("");
	image_spec_write(s, f, what);
	fclose(f);
	return text;
}

/* Parses text into a fresh spec; its status, and err. */
static int parse(struct image_spec *s, const char *text, const char *base_dir, char *err,
		 size_t errlen)
{
	image_spec_init(s);
	err[0] = '\0';
	return image_spec_parse(s, text, base_dir, err, errlen);
}

/* One line that must be refused: as the third line of a spec, its error
 * names line 3 and contains want. */
static void refused_on_line_3(const char *line, const char *want)
{
	char text[10000], err[512];
	snprintf(text, sizeof(text), "# a spec\nsuite = bookworm\n%s\nformat = erofs\n", line);
	struct image_spec s;
	int rc = parse(&s, text, "/specs", err, sizeof(err));
	CHECK_INT(rc, -1);
	if (strncmp(err, "line 3: ", 8) || !strstr(err, want)) {
		check_failed++;
		fprintf(stderr, "%s:%d: '%.60s': expected \"line 3: ...%s...\", saw \"%s\"\n",
			__FILE__, __LINE__, line, want, err);
	} else {
		check_passed++;
	}
	image_spec_free(&s);
}

static void test_init_leaves_every_key_unset(void)
{
	struct image_spec s;
	memset(&s, 0x5a, sizeof(s));
	image_spec_init(&s);
	CHECK(s.name == NULL && s.suite == NULL && s.variant == NULL && s.format == NULL);
	CHECK(s.customize == NULL && s.mirror == NULL && s.security == NULL && s.sha256 == NULL);
	CHECK_INT(s.epoch, IMAGE_EPOCH_AUTO);
	CHECK_INT(s.npackages, 0);
	CHECK_INT(s.nfiles, 0);
	CHECK_INT(s.npins, 0);
	image_spec_free(&s);
	CHECK_INT(s.epoch, IMAGE_EPOCH_AUTO);
}

static void test_parse_reads_every_key(void)
{
	const char *text =
		"# comment\n"
		"\n"
		"  name = web:1.0 \n"
		"suite=bookworm\r\n"
		"variant = apt\n"
		"\tformat\t=\text4\n"
		"mirror = http://deb.debian.org/debian\n"
		"security = none\n"
		"packages = zsh curl\n"
		"file = conf/nginx.conf:/etc/nginx/nginx.conf\n"
		"customize = setup.sh\n"
		"epoch = 1700000000\n"
		"pin = libc6=2.36-9+deb12u14 amd64\n"
		"sha256 = 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
		"   # indented comment";
	struct image_spec s;
	char err[256];
	CHECK_INT(parse(&s, text, "/specs", err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_STR(s.name, "web:1.0");
	CHECK_STR(s.suite, "bookworm");
	CHECK_STR(s.variant, "apt");
	CHECK_STR(s.format, "ext4");
	CHECK_STR(s.mirror, "http://deb.debian.org/debian");
	CHECK_STR(s.security, "none");
	CHECK_INT(s.npackages, 2);
	CHECK_INT(s.nfiles, 1);
	if (s.nfiles == 1) {
		CHECK_STR(s.files[0].host, "/specs/conf/nginx.conf");
		CHECK_STR(s.files[0].guest, "/etc/nginx/nginx.conf");
	}
	CHECK_STR(s.customize, "/specs/setup.sh");
	CHECK_INT(s.epoch, 1700000000);
	CHECK_INT(s.npins, 1);
	if (s.npins == 1) {
		CHECK_STR(s.pins[0].name, "libc6");
		CHECK_STR(s.pins[0].version, "2.36-9+deb12u14");
		CHECK_STR(s.pins[0].arch, "amd64");
	}
	CHECK_STR(s.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	image_spec_free(&s);

	/* Nothing at all is a spec too; a later key replaces an earlier one. */
	CHECK_INT(parse(&s, "", NULL, err, sizeof(err)), 0);
	CHECK_INT(parse(&s, "suite = bookworm\nsuite = trixie\nformat = tar\nformat = dir", NULL,
			err, sizeof(err)),
		  0);
	CHECK_STR(s.suite, "trixie");
	CHECK_STR(s.format, "dir");
	image_spec_free(&s);
}

static void test_every_variant_and_format_accepted(void)
{
	static const char *const variants[] = { "minbase",   "essential", "apt",    "required",
						"important", "standard",  "buildd", NULL };
	static const char *const formats[] = { "squashfs", "erofs", "ext4", "tar", "dir", NULL };
	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	for (int i = 0; variants[i]; i++) {
		CHECK_INT(image_spec_set(&s, "variant", variants[i], NULL, err, sizeof(err)), 0);
		CHECK_STR(s.variant, variants[i]);
	}
	for (int i = 0; formats[i]; i++) {
		CHECK_INT(image_spec_set(&s, "format", formats[i], NULL, err, sizeof(err)), 0);
		CHECK_STR(s.format, formats[i]);
	}
	image_spec_free(&s);
}

static void test_bad_lines_refused_naming_the_line(void)
{
	char long_name[IMAGE_NAME_MAX + 2], max_line[9000];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	char name_line[128];
	snprintf(name_line, sizeof(name_line), "name = %s", long_name);
	snprintf(max_line, sizeof(max_line), "packages = %8200s", "x");

	refused_on_line_3("colour = blue", "unknown key 'colour'");
	refused_on_line_3("= bookworm", "unknown key ''");
	refused_on_line_3("Suite = bookworm", "unknown key 'Suite'");
	refused_on_line_3("suite bookworm", "want key = value");
	refused_on_line_3(max_line, "too long");

	refused_on_line_3("name = Web", "invalid name 'Web'");
	refused_on_line_3("name = a/b", "invalid name 'a/b'");
	refused_on_line_3("name =", "invalid name ''");
	refused_on_line_3("name = -web", "invalid name");
	refused_on_line_3("name = web server", "invalid name");
	refused_on_line_3(name_line, "invalid name");

	refused_on_line_3("suite = book/worm", "invalid suite");
	refused_on_line_3("suite = ", "invalid suite");
	refused_on_line_3("suite = ../x", "invalid suite");

	refused_on_line_3("variant = tiny", "invalid variant 'tiny'");
	refused_on_line_3("variant = Minbase", "invalid variant");
	refused_on_line_3("variant =", "invalid variant ''");
	refused_on_line_3("format = iso", "invalid format 'iso'");
	refused_on_line_3("format = squashfs erofs", "invalid format");
	refused_on_line_3("format =", "invalid format ''");

	refused_on_line_3("packages = Curl", "invalid package name 'Curl'");
	refused_on_line_3("packages = curl x", "invalid package name 'x'");
	refused_on_line_3("packages = -curl", "invalid package name");
	refused_on_line_3("packages = cu/rl", "invalid package name");
	refused_on_line_3("package = lib_x", "invalid package name");

	refused_on_line_3("file = /etc/hosts", "invalid file");
	refused_on_line_3("file = /etc/hosts:etc/hosts", "invalid file");
	refused_on_line_3("file = :/etc/hosts", "invalid file");
	refused_on_line_3("file = /h:/etc/../shadow", "invalid file");
	refused_on_line_3("file = /h:/..", "invalid file");
	refused_on_line_3("file = /h:/etc/./hosts", "invalid file");
	refused_on_line_3("file = /h:/", "invalid file");
	refused_on_line_3("file = /h://", "invalid file");
	refused_on_line_3("file = /h:", "invalid file");

	/* A guest path that would not read back from the lock as written. */
	refused_on_line_3("file = /h:/etc/motd /", "invalid file '/h:/etc/motd /': control");
	refused_on_line_3("file = /h:/etc/motd\t/", "invalid file");
	refused_on_line_3("file = /h:/etc/mo\rtd", "invalid file");

	refused_on_line_3("customize =", "invalid customize");
	refused_on_line_3("customize = run\x7f.sh", "invalid customize");

	refused_on_line_3("mirror = ftp://m/debian", "invalid mirror");
	refused_on_line_3("mirror = deb.debian.org/debian", "invalid mirror");
	refused_on_line_3("mirror = http://m/deb ian", "invalid mirror");
	refused_on_line_3("mirror = http://m/\"x", "invalid mirror");
	refused_on_line_3("mirror = none", "invalid mirror 'none'");
	refused_on_line_3("security = gopher://x", "invalid security");

	refused_on_line_3("pin = libc6", "invalid pin 'libc6'");
	refused_on_line_3("pin = libc6=2.36", "invalid pin");
	refused_on_line_3("pin = libc6 2.36 amd64", "invalid pin");
	refused_on_line_3("pin = =2.36 amd64", "invalid pin");
	refused_on_line_3("pin = libc6=2.36 amd64 extra", "invalid pin");
	refused_on_line_3("pin = Libc6=2.36 amd64", "invalid pin");
	refused_on_line_3("pin = libc6=2/36 amd64", "invalid pin");
	refused_on_line_3("pin = libc6=:2.36 amd64", "invalid pin");
	refused_on_line_3("pin = libc6=2.36 amd_64", "invalid pin");
	refused_on_line_3("pin = c=1.0 amd64", "invalid pin");

	refused_on_line_3("epoch = -1", "invalid epoch '-1'");
	refused_on_line_3("epoch = +5", "invalid epoch");
	refused_on_line_3("epoch = soon", "invalid epoch 'soon'");
	refused_on_line_3("epoch = 17e8", "invalid epoch");
	refused_on_line_3("epoch = 0x10", "invalid epoch");
	refused_on_line_3("epoch =", "invalid epoch ''");
	refused_on_line_3("epoch = 4102444801", "invalid epoch");
	refused_on_line_3("epoch = 99999999999999999999999", "invalid epoch");

	refused_on_line_3("sha256 = abc", "invalid sha256");
	refused_on_line_3(
		"sha256 = 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"invalid sha256");
	refused_on_line_3(
		"sha256 = 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefa",
		"invalid sha256");
}

static void test_error_is_cut_to_its_buffer(void)
{
	struct image_spec s;
	char err[12];
	memset(err, 'x', sizeof(err));
	CHECK_INT(parse(&s, "colour = a very long value indeed", NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "line 1: unk");
	image_spec_free(&s);
}

static void test_names_checked(void)
{
	char name[IMAGE_NAME_MAX + 2];
	memset(name, 'a', sizeof(name));
	name[IMAGE_NAME_MAX] = '\0';
	CHECK(image_name_valid(name));
	name[IMAGE_NAME_MAX] = 'a';
	name[IMAGE_NAME_MAX + 1] = '\0';
	CHECK(!image_name_valid(name));
	CHECK(image_name_valid("debian:bookworm"));
	CHECK(image_name_valid("web-1.2_x"));
	CHECK(image_name_valid("9"));
	CHECK(!image_name_valid(""));
	CHECK(!image_name_valid("Web"));
	CHECK(!image_name_valid("a/b"));
	CHECK(!image_name_valid(".hidden"));
	CHECK(!image_name_valid("-x"));
	CHECK(!image_name_valid("a b"));
	CHECK(!image_name_valid("a\nb"));
	CHECK(!image_name_valid("caf\xc3\xa9"));

	CHECK(image_package_name_valid("libc6"));
	CHECK(image_package_name_valid("g++"));
	CHECK(image_package_name_valid("gcc-12-base"));
	CHECK(image_package_name_valid("0ad"));
	CHECK(image_package_name_valid("python3.11"));
	CHECK(!image_package_name_valid("c"));
	CHECK(!image_package_name_valid(""));
	CHECK(!image_package_name_valid("Curl"));
	CHECK(!image_package_name_valid("-curl"));
	CHECK(!image_package_name_valid("+x"));
	CHECK(!image_package_name_valid("lib_x"));
	CHECK(!image_package_name_valid("curl:amd64"));
	CHECK(!image_package_name_valid("a/b"));

	CHECK(image_version_valid("2.36-9+deb12u14"));
	CHECK(image_version_valid("1:2.38.1-5+deb12u3"));
	CHECK(image_version_valid("1.0~rc1"));
	CHECK(image_version_valid("7"));
	CHECK(!image_version_valid(""));
	CHECK(!image_version_valid(":1.0"));
	CHECK(!image_version_valid("~1"));
	CHECK(!image_version_valid("1 0"));
	CHECK(!image_version_valid("1/0"));
	CHECK(!image_version_valid("1_0"));
	CHECK(!image_version_valid("1%3a0"));
	char version[130];
	memset(version, '1', sizeof(version));
	version[128] = '\0';
	CHECK(image_version_valid(version));
	version[128] = '1';
	version[129] = '\0';
	CHECK(!image_version_valid(version));
}

static void test_packages_deduplicated_and_sorted(void)
{
	struct image_spec s;
	char err[256];
	CHECK_INT(parse(&s,
			"packages = zsh,curl  vim\n"
			"package = curl\n"
			"packages = ,, ca-certificates\t,zsh ,\n"
			"packages =\n",
			NULL, err, sizeof(err)),
		  0);
	CHECK_INT(s.npackages, 4);
	if (s.npackages == 4) {
		CHECK_STR(s.packages[0], "ca-certificates");
		CHECK_STR(s.packages[1], "curl");
		CHECK_STR(s.packages[2], "vim");
		CHECK_STR(s.packages[3], "zsh");
	}
	/* A word too long for any package is refused, not cut. */
	char line[400];
	snprintf(line, sizeof(line), "packages = %0200d", 0);
	CHECK_INT(image_spec_parse(&s, line, NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "line 1: invalid package name") == err);
	CHECK_INT(s.npackages, 4);
	image_spec_free(&s);
}

static void test_too_many_packages_and_files_refused(void)
{
	struct image_spec s;
	char err[256], word[16];
	image_spec_init(&s);
	int rc = 0;
	for (int i = 0; i < IMAGE_MAX_PACKAGES && rc == 0; i++) {
		snprintf(word, sizeof(word), "p%05d", i);
		rc = image_spec_set(&s, "packages", word, NULL, err, sizeof(err));
	}
	CHECK_INT(rc, 0);
	CHECK_INT(image_spec_set(&s, "packages", "p00000", NULL, err, sizeof(err)), 0);
	CHECK_INT(image_spec_set(&s, "packages", "one-more", NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "too many packages") != NULL);
	CHECK_INT(s.npackages, IMAGE_MAX_PACKAGES);

	for (int i = 0; i < IMAGE_MAX_FILES && rc == 0; i++)
		rc = image_spec_set(&s, "file", "/h:/g", NULL, err, sizeof(err));
	CHECK_INT(rc, 0);
	CHECK_INT(image_spec_set(&s, "file", "/h:/g", NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "too many files") != NULL);
	CHECK_INT(s.nfiles, IMAGE_MAX_FILES);
	image_spec_free(&s);
}

static void test_file_paths_resolved_and_normalized(void)
{
	struct image_spec s;
	char err[256];
	CHECK_INT(parse(&s,
			"file = conf/a:/etc//a/\n"
			"file = /abs/b:///b\n"
			"file = /c:1:/etc/c\n"
			"file = ./d:/d\n",
			"/specs", err, sizeof(err)),
		  0);
	CHECK_INT(s.nfiles, 4);
	if (s.nfiles == 4) {
		CHECK_STR(s.files[0].host, "/specs/conf/a");
		CHECK_STR(s.files[0].guest, "/etc/a");
		CHECK_STR(s.files[1].host, "/abs/b");
		CHECK_STR(s.files[1].guest, "/b");
		/* Split at the last colon: the guest path has none. */
		CHECK_STR(s.files[2].host, "/c:1");
		CHECK_STR(s.files[2].guest, "/etc/c");
		CHECK_STR(s.files[3].host, "/specs/./d");
	}
	image_spec_free(&s);
	/* Without a base directory (an option) a relative host path stays. */
	image_spec_init(&s);
	CHECK_INT(image_spec_set(&s, "file", "conf/a:/a", NULL, err, sizeof(err)), 0);
	CHECK_INT(image_spec_set(&s, "customize", "run.sh", NULL, err, sizeof(err)), 0);
	if (s.nfiles == 1)
		CHECK_STR(s.files[0].host, "conf/a");
	CHECK_STR(s.customize, "run.sh");
	image_spec_free(&s);
}

/* Options reach image_spec_set without a spec file's trimming: what a
 * lock line cannot hold is refused there too. */
static void test_set_refuses_what_a_lock_line_cannot_hold(void)
{
	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	CHECK_INT(image_spec_set(&s, "file", "/h:/x\npin = evil=1 amd64", NULL, err, sizeof(err)),
		  -1);
	CHECK_INT(image_spec_set(&s, "file", "/h\n:/x", NULL, err, sizeof(err)), -1);
	CHECK_INT(image_spec_set(&s, "file", " h:/x", NULL, err, sizeof(err)), -1);
	CHECK_INT(image_spec_set(&s, "file", "/h:/x ", NULL, err, sizeof(err)), -1);
	CHECK_INT(s.nfiles, 0);
	CHECK_INT(image_spec_set(&s, "customize", "run.sh\nsha256 = x", NULL, err, sizeof(err)),
		  -1);
	CHECK_INT(image_spec_set(&s, "customize", " run.sh", NULL, err, sizeof(err)), -1);
	CHECK_INT(image_spec_set(&s, "customize", "run.sh ", NULL, err, sizeof(err)), -1);
	CHECK(s.customize == NULL);
	/* Blanks inside are kept. */
	CHECK_INT(image_spec_set(&s, "file", "/my files/a b:/srv/a b", NULL, err, sizeof(err)), 0);
	CHECK_INT(image_spec_set(&s, "customize", "my script.sh", NULL, err, sizeof(err)), 0);
	if (s.nfiles == 1) {
		CHECK_STR(s.files[0].host, "/my files/a b");
		CHECK_STR(s.files[0].guest, "/srv/a b");
	}
	CHECK_STR(s.customize, "my script.sh");
	image_spec_free(&s);
}

static void test_bad_value_keeps_the_previous_one(void)
{
	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	CHECK_INT(image_spec_set(&s, "name", "web", NULL, err, sizeof(err)), 0);
	CHECK_INT(image_spec_set(&s, "name", "Web", NULL, err, sizeof(err)), -1);
	CHECK_STR(s.name, "web");
	CHECK_INT(image_spec_set(&s, "epoch", "5", NULL, err, sizeof(err)), 0);
	CHECK_INT(image_spec_set(&s, "epoch", "-5", NULL, err, sizeof(err)), -1);
	CHECK_INT(s.epoch, 5);
	CHECK_INT(image_spec_set(&s, "format", "iso", NULL, err, sizeof(err)), -1);
	CHECK(s.format == NULL);
	image_spec_free(&s);
}

static void test_epoch_bounds(void)
{
	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	CHECK_INT(image_spec_set(&s, "epoch", "0", NULL, err, sizeof(err)), 0);
	CHECK_INT(s.epoch, 0);
	CHECK_INT(image_spec_set(&s, "epoch", "4102444800", NULL, err, sizeof(err)), 0);
	CHECK_INT(s.epoch, 4102444800LL);
	CHECK_INT(image_spec_set(&s, "epoch", "4102444801", NULL, err, sizeof(err)), -1);
	CHECK_INT(image_spec_set(&s, "epoch", "9223372036854775808", NULL, err, sizeof(err)), -1);
	CHECK_INT(s.epoch, 4102444800LL);
	image_spec_free(&s);
}

static void test_pin_replaces_the_same_name(void)
{
	struct image_spec s;
	char err[256];
	image_spec_init(&s);
	CHECK_INT(image_spec_pin(&s, "libc6", "2.36-9", "amd64", err, sizeof(err)), 0);
	CHECK_INT(image_spec_pin(&s, "bash", "5.2.15-2+b2", "amd64", err, sizeof(err)), 0);
	CHECK_INT(image_spec_pin(&s, "libc6", "2.36-9+deb12u14", "i386", err, sizeof(err)), 0);
	CHECK_INT(s.npins, 2);
	if (s.npins == 2) {
		CHECK_STR(s.pins[0].name, "libc6");
		CHECK_STR(s.pins[0].version, "2.36-9+deb12u14");
		CHECK_STR(s.pins[0].arch, "i386");
	}
	CHECK_INT(image_spec_pin(&s, "libc6", "2.36 9", "amd64", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid pin 'libc6=2.36 9 amd64': want NAME=VERSION ARCH");
	CHECK_INT(image_spec_pin(&s, "libc6", "2.36", "", err, sizeof(err)), -1);
	CHECK_INT(image_spec_pin(&s, "libc6", "2.36", "x86/64", err, sizeof(err)), -1);
	CHECK_INT(s.npins, 2);
	if (s.npins == 2)
		CHECK_STR(s.pins[0].version, "2.36-9+deb12u14");
	/* Through a spec's text: the later pin wins. */
	char text[] = "pin = bash=5.1 amd64\npin = bash=5.2 all\n";
	image_spec_free(&s);
	CHECK_INT(parse(&s, text, NULL, err, sizeof(err)), 0);
	CHECK_INT(s.npins, 1);
	if (s.npins == 1) {
		CHECK_STR(s.pins[0].version, "5.2");
		CHECK_STR(s.pins[0].arch, "all");
	}
	image_spec_free(&s);
}

static void test_finish_defaults_and_sorts_pins(void)
{
	struct image_spec s;
	char err[256] = "";
	image_spec_init(&s);
	CHECK_INT(image_spec_finish(&s, err, sizeof(err)), 0);
	CHECK_STR(s.variant, "minbase");
	CHECK_STR(s.format, "squashfs");
	image_spec_free(&s);

	CHECK_INT(parse(&s,
			"variant = buildd\nformat = tar\n"
			"pin = zlib1g=1:1.2.13.dfsg-1 amd64\n"
			"pin = base-files=12.4+deb12u14 amd64\n"
			"pin = libc6=2.36-9+deb12u14 amd64\n",
			NULL, err, sizeof(err)),
		  0);
	CHECK_INT(image_spec_finish(&s, err, sizeof(err)), 0);
	CHECK_STR(s.variant, "buildd");
	CHECK_STR(s.format, "tar");
	CHECK_INT(s.npins, 3);
	if (s.npins == 3) {
		CHECK_STR(s.pins[0].name, "base-files");
		CHECK_STR(s.pins[1].name, "libc6");
		CHECK_STR(s.pins[2].name, "zlib1g");
		CHECK_STR(s.pins[2].version, "1:1.2.13.dfsg-1");
	}
	image_spec_free(&s);
}

static void test_finish_without_pins_takes_any_package(void)
{
	struct image_spec s;
	char err[256];
	CHECK_INT(parse(&s, "packages = curl vim", NULL, err, sizeof(err)), 0);
	CHECK_INT(image_spec_finish(&s, err, sizeof(err)), 0);
	image_spec_free(&s);
}

static void test_finish_refuses_a_package_not_among_the_pins(void)
{
	struct image_spec s;
	char err[256];
	CHECK_INT(parse(&s,
			"packages = curl libc6\n"
			"pin = libc6=2.36-9+deb12u14 amd64\n",
			NULL, err, sizeof(err)),
		  0);
	CHECK_INT(image_spec_finish(&s, err, sizeof(err)), -1);
	CHECK(strstr(err, "package 'curl' is not among the pins") == err);
	CHECK_INT(image_spec_pin(&s, "curl", "7.88.1-10+deb12u14", "amd64", err, sizeof(err)), 0);
	CHECK_INT(image_spec_finish(&s, err, sizeof(err)), 0);
	image_spec_free(&s);
}

static const char full_spec[] =
	"sha256 = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	"pin = zlib1g=1:1.2.13.dfsg-1 amd64\n"
	"pin = curl=7.88.1-10+deb12u14 amd64\n"
	"pin = base-files=12.4+deb12u14 amd64\n"
	"epoch = 1760000000\n"
	"customize = /s/run.sh\n"
	"file = /s/b:/etc/b\n"
	"file = rel/a:/a\n"
	"packages = curl\n"
	"packages = base-files\n"
	"security = http://security.debian.org/debian-security\n"
	"mirror = http://deb.debian.org/debian\n"
	"format = erofs\n"
	"variant = essential\n"
	"suite = bookworm\n"
	"name = web\n";

static void test_write_gives_the_canonical_text(void)
{
	struct image_spec s;
	char err[256];
	CHECK_INT(parse(&s, full_spec, "/s", err, sizeof(err)), 0);
	CHECK_INT(image_spec_finish(&s, err, sizeof(err)), 0);
	char *lock = written(&s, IMAGE_TEXT_LOCK), *key = written(&s, IMAGE_TEXT_KEY);
	CHECK_STR(lock,
		  "name = web\n"
		  "suite = bookworm\n"
		  "variant = essential\n"
		  "format = erofs\n"
		  "mirror = http://deb.debian.org/debian\n"
		  "security = http://security.debian.org/debian-security\n"
		  "packages = base-files\n"
		  "packages = curl\n"
		  "file = /s/b:/etc/b\n"
		  "file = /s/rel/a:/a\n"
		  "customize = /s/run.sh\n"
		  "epoch = 1760000000\n"
		  "pin = base-files=12.4+deb12u14 amd64\n"
		  "pin = curl=7.88.1-10+deb12u14 amd64\n"
		  "pin = zlib1g=1:1.2.13.dfsg-1 amd64\n"
		  "sha256 = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	/* The key leaves out what does not change the image's bytes. */
	CHECK_STR(key, "suite = bookworm\n"
		       "variant = essential\n"
		       "format = erofs\n"
		       "mirror = http://deb.debian.org/debian\n"
		       "security = http://security.debian.org/debian-security\n"
		       "packages = base-files\n"
		       "packages = curl\n"
		       "file = /s/b:/etc/b\n"
		       "file = /s/rel/a:/a\n"
		       "customize = /s/run.sh\n"
		       "epoch = 1760000000\n"
		       "pin = base-files=12.4+deb12u14 amd64\n"
		       "pin = curl=7.88.1-10+deb12u14 amd64\n"
		       "pin = zlib1g=1:1.2.13.dfsg-1 amd64\n");
	free(lock);
	free(key);
	image_spec_free(&s);

	/* An empty spec still names its variant and format. */
	image_spec_init(&s);
	lock = written(&s, IMAGE_TEXT_LOCK);
	CHECK_STR(lock, "variant = minbase\nformat = squashfs\n");
	free(lock);
	image_spec_free(&s);
}

/* A lock read back writes the same text, and so does its key. */
static void round_trip(const char *text, const char *base_dir)
{
	struct image_spec a, b;
	char err[256];
	CHECK_INT(parse(&a, text, base_dir, err, sizeof(err)), 0);
	CHECK_INT(image_spec_finish(&a, err, sizeof(err)), 0);
	char *lock = written(&a, IMAGE_TEXT_LOCK);
	CHECK_INT(parse(&b, lock, "/elsewhere", err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(image_spec_finish(&b, err, sizeof(err)), 0);
	char *again = written(&b, IMAGE_TEXT_LOCK);
	CHECK_STR(again, lock);
	char *key_a = written(&a, IMAGE_TEXT_KEY), *key_b = written(&b, IMAGE_TEXT_KEY);
	CHECK_STR(key_b, key_a);
	free(lock);
	free(again);
	free(key_a);
	free(key_b);
	image_spec_free(&a);
	image_spec_free(&b);
}

static void test_lock_reads_back_to_the_same_text(void)
{
	round_trip(full_spec, "/s");
	round_trip("", NULL);
	round_trip("suite = sid\nsecurity = none\nepoch = 0\n", NULL);
	round_trip("file = my dir/a b :/srv/a b/\ncustomize = my script.sh\n", "/spec dir");
	round_trip("packages = g++ zsh\npin = g++=4:12.2.0-3 amd64\npin = zsh=5.9-4+b6 amd64\n"
		   "packages = zsh\n",
		   NULL);
}

int main(void)
{
	test_init_leaves_every_key_unset();
	test_parse_reads_every_key();
	test_every_variant_and_format_accepted();
	test_bad_lines_refused_naming_the_line();
	test_error_is_cut_to_its_buffer();
	test_names_checked();
	test_packages_deduplicated_and_sorted();
	test_too_many_packages_and_files_refused();
	test_file_paths_resolved_and_normalized();
	test_set_refuses_what_a_lock_line_cannot_hold();
	test_bad_value_keeps_the_previous_one();
	test_epoch_bounds();
	test_pin_replaces_the_same_name();
	test_finish_defaults_and_sorts_pins();
	test_finish_without_pins_takes_any_package();
	test_finish_refuses_a_package_not_among_the_pins();
	test_write_gives_the_canonical_text();
	test_lock_reads_back_to_the_same_text();
	return check_summary("test_image_spec");
}

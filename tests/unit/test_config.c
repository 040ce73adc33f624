/* Unit tests of wisp-init's command-line parser (init/config.c). */
#include <stdlib.h>

#include "../../common/base64.h"
#include "../../init/config.h"
#include "check.h"

static void parse(const char *text, struct config *c)
{
	config_free(c);
	CHECK_INT(config_parse(text, strlen(text), c), 0);
}

/* Encodes NUL-terminated items for wisp.cmd / wisp.env / wisp.cwd. */
static char *encode(const char *const *items)
{
	unsigned char raw[1024];
	size_t n = 0;
	for (int i = 0; items[i]; i++) {
		size_t len = strlen(items[i]) + 1;
		memcpy(raw + n, items[i], len);
		n += len;
	}
	char *out = malloc(base64_encoded_size(n));
	base64_encode(raw, n, out);
	return out;
}

static void test_defaults(void)
{
	struct config c = { 0 };
	parse("console=ttyS0 quiet", &c);
	CHECK(c.argv[0] == NULL);
	CHECK(c.env[0] == NULL);
	CHECK(c.cwd == NULL);
	CHECK_STR(c.hostname, "wisp");
	CHECK_INT(c.tty, 0);
	CHECK_INT(c.stdin_open, 0);
	CHECK_INT(c.io, IO_AUTO);
	CHECK_INT(c.nwarnings, 0);
	CHECK_INT(c.timesync_s, 60);
	CHECK_INT(c.timeport, 5254);
	CHECK_INT(c.has_now, 0);
	config_free(&c);
}

static void test_cmd_roundtrip_any_bytes(void)
{
	const char *argv[] = { "sh", "-c", "echo \"a  b\" 'q' $HOME\t\n", "", "wisp.cmd=x", NULL };
	char *enc = encode(argv);
	char text[2048];
	snprintf(text, sizeof(text), "quiet wisp.cmd=%s wisp.stdin=1", enc);
	struct config c = { 0 };
	parse(text, &c);
	for (int i = 0; argv[i]; i++)
		CHECK_STR(c.argv[i], argv[i]);
	CHECK(c.argv[5] == NULL);
	CHECK_INT(c.stdin_open, 1);
	CHECK_INT(c.nwarnings, 0);
	config_free(&c);
	free(enc);
}

static void test_command_after_dashes(void)
{
	struct config c = { 0 };
	parse("console=ttyS0 wisp.tty=1 -- /bin/echo hello \"two words\"", &c);
	CHECK_STR(c.argv[0], "/bin/echo");
	CHECK_STR(c.argv[1], "hello");
	CHECK_STR(c.argv[2], "two words");
	CHECK(c.argv[3] == NULL);
	CHECK_INT(c.tty, 1);
	config_free(&c);
}

static void test_wisp_cmd_wins_over_dashes(void)
{
	const char *argv[] = { "true", NULL };
	char *enc = encode(argv);
	char text[256];
	snprintf(text, sizeof(text), "wisp.cmd=%s -- false", enc);
	struct config c = { 0 };
	parse(text, &c);
	CHECK_STR(c.argv[0], "true");
	CHECK(c.argv[1] == NULL);
	config_free(&c);
	free(enc);
}

static void test_env_cwd_user_tty(void)
{
	const char *env[] = { "A=1", "B=two words", "C=", NULL };
	const char *cwd[] = { "/tmp/with space", NULL };
	char *e = encode(env), *w = encode(cwd);
	char text[1024];
	snprintf(text, sizeof(text),
		 "wisp.env=%s wisp.cwd=%s wisp.user=1000:100 wisp.tty=50x132 "
		 "wisp.hostname=box-1 wisp.nonce=0123abcd wisp.io=console",
		 e, w);
	struct config c = { 0 };
	parse(text, &c);
	CHECK_STR(c.env[0], "A=1");
	CHECK_STR(c.env[1], "B=two words");
	CHECK_STR(c.env[2], "C=");
	CHECK(c.env[3] == NULL);
	CHECK_STR(c.cwd, "/tmp/with space");
	CHECK_INT(c.has_user, 1);
	CHECK_INT(c.uid, 1000);
	CHECK_INT(c.gid, 100);
	CHECK_INT(c.tty, 1);
	CHECK_INT(c.rows, 50);
	CHECK_INT(c.cols, 132);
	CHECK_STR(c.hostname, "box-1");
	CHECK_STR(c.nonce, "0123abcd");
	CHECK_INT(c.io, IO_CONSOLE);
	CHECK_INT(c.nwarnings, 0);
	parse("wisp.user=0", &c);
	CHECK_INT(c.uid, 0);
	CHECK_INT(c.gid, 0);
	config_free(&c);
	free(e);
	free(w);
}

static void test_bad_input_warns_and_keeps_defaults(void)
{
	struct config c = { 0 };
	parse("wisp.bogus=1 wisp.tty=0x80 wisp.user=-1 wisp.user=1:x wisp.cmd=%%% "
	      "wisp.cwd=cmVsYXRpdmUA wisp.io=serial wisp.hostname=a/b wisp.nonce=XYZ",
	      &c);
	CHECK(c.argv[0] == NULL);
	CHECK(c.cwd == NULL); /* "relative" is not absolute */
	CHECK_INT(c.tty, 0);
	CHECK_INT(c.has_user, 0);
	CHECK_INT(c.io, IO_AUTO);
	CHECK_STR(c.hostname, "wisp");
	CHECK(c.nonce == NULL);
	CHECK_INT(c.nwarnings, CONFIG_MAX_WARNINGS);
	CHECK_STR(c.warnings[0], "ignoring unknown key wisp.bogus");
	CHECK_STR(c.warnings[1], "ignoring wisp.tty: malformed value");
	parse("wisp.novalue wisp.env=PUIA wisp.cmd=YQ==", &c);
	CHECK_STR(c.warnings[0], "ignoring wisp.novalue: no value");
	CHECK_STR(c.warnings[1], "ignoring wisp.env: malformed value"); /* "=B": no key */
	CHECK_STR(c.warnings[2], "ignoring wisp.cmd: malformed value"); /* "a" without NUL */
	CHECK(c.env[0] == NULL);
	config_free(&c);
}

static void test_time_keys(void)
{
	struct config c = { 0 };
	parse("wisp.timesync=2 wisp.timeport=6000 wisp.now=1795478400.123456789", &c);
	CHECK_INT(c.timesync_s, 2);
	CHECK_INT(c.timeport, 6000);
	CHECK_INT(c.has_now, 1);
	CHECK_INT(c.now_ns, 1795478400123456789LL);
	CHECK_INT(c.nwarnings, 0);
	parse("wisp.timesync=0 wisp.now=1795478400.5", &c);
	CHECK_INT(c.timesync_s, 0); /* 0: no resync */
	CHECK_INT(c.now_ns, 1795478400500000000LL);
	parse("wisp.now=1795478400 wisp.timesync=86400", &c);
	CHECK_INT(c.now_ns, 1795478400000000000LL);
	CHECK_INT(c.timesync_s, 86400);
	CHECK_INT(c.nwarnings, 0);
	/* Malformed: the defaults stay, one warning each. */
	parse("wisp.timesync=-1 wisp.timesync=86401 wisp.timesync=1m wisp.timeport=0 "
	      "wisp.now=1.1234567891 wisp.now=12. wisp.now=.5 wisp.now=0",
	      &c);
	CHECK_INT(c.timesync_s, 60);
	CHECK_INT(c.timeport, 5254);
	CHECK_INT(c.has_now, 0);
	CHECK_INT(c.nwarnings, 8);
	CHECK_STR(c.warnings[0], "ignoring wisp.timesync: malformed value");
	CHECK_STR(c.warnings[4], "ignoring wisp.now: malformed value");
	parse("wisp.now=4611686018 wisp.now=99999999999999999999 wisp.now=1-2 wisp.now=1.x", &c);
	CHECK_INT(c.has_now, 0); /* 2^62 ns and later is refused, like the host's answers */
	CHECK_INT(c.nwarnings, 4);
	parse("wisp.now=4611686017.999999999", &c);
	CHECK_INT(c.now_ns, 4611686017999999999LL);
	config_free(&c);
}

static void test_quotes_and_empty(void)
{
	struct config c = { 0 };
	parse("", &c);
	CHECK(c.argv[0] == NULL);
	parse("wisp.hostname=\"quoted\"   \n", &c);
	CHECK_STR(c.hostname, "quoted");
	parse("--", &c);
	CHECK(c.argv[0] == NULL);
	config_free(&c);
}

static void test_too_many_args(void)
{
	char text[CONFIG_MAX_ARGS * 2 + 64];
	size_t n = (size_t)snprintf(text, sizeof(text), "--");
	for (int i = 0; i < CONFIG_MAX_ARGS + 5; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " x");
	struct config c = { 0 };
	parse(text, &c);
	CHECK(c.argv[CONFIG_MAX_ARGS - 1] != NULL);
	CHECK(c.argv[CONFIG_MAX_ARGS] == NULL);
	CHECK_INT(c.nwarnings, 1);
	config_free(&c);
}

static void test_base64(void)
{
	const char *samples[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (int i = 0; i < 7; i++) {
		char enc[16];
		unsigned char dec[16];
		base64_encode((const unsigned char *)samples[i], strlen(samples[i]), enc);
		CHECK_STR(enc, want[i]);
		long n = base64_decode(enc, strlen(enc), dec);
		CHECK_INT(n, (long)strlen(samples[i]));
		dec[n < 0 ? 0 : n] = '\0';
		CHECK_STR((char *)dec, samples[i]);
	}
	unsigned char d[16];
	CHECK_INT(base64_decode("Zg=", 3, d), -1);
	CHECK_INT(base64_decode("Z=g=", 4, d), -1);
	CHECK_INT(base64_decode("Zg==Zg==", 8, d), -1);
	CHECK_INT(base64_decode("Zm9*", 4, d), -1);
}

static void test_root_and_init(void)
{
	static struct config c;
	parse("wisp.root=blk,vda,rw,ext4 wisp.init=/sbin/init wisp.user=1000", &c);
	CHECK_INT(c.root.kind, ROOT_BLK);
	CHECK_STR(c.root.source, "vda");
	CHECK_INT(c.root.ro, 0);
	CHECK_STR(c.root.opt, "ext4");
	CHECK_STR(c.init, "/sbin/init");
	CHECK_INT(c.has_gid, 0);
	CHECK_INT(c.nwarnings, 0);
	parse("wisp.root=9p,wisproot,ro,loose wisp.user=1000:50", &c);
	CHECK_INT(c.root.kind, ROOT_9P);
	CHECK_INT(c.root.ro, 1);
	CHECK_STR(c.root.opt, "loose");
	CHECK_INT(c.has_gid, 1);
	CHECK_INT((int)c.gid, 50);
	/* Each is refused whole: no root, one warning. */
	static const char *const bad[] = {
		"wisp.root=blk,vda,rw,squashfs",  /* only ext4 is written through */
		"wisp.root=9p,wisproot,rw,loose", /* a share is read-only */
		"wisp.root=blk,vda,ro,vfat",
		"wisp.root=blk,../sda,ro,ext4",
		"wisp.root=9p,tag,ro,bogus",
		"wisp.root=nfs,x,ro,loose",
		"wisp.root=blk,vda,ro",
		"wisp.root=blk,vda,ro,ext4,x",
		"wisp.init=sbin/init",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(bad[i], &c);
		CHECK_INT(c.root.kind, ROOT_NONE);
		CHECK_INT(c.init == NULL, 1);
		CHECK_INT(c.nwarnings, 1);
	}
}

/* wisp.net and wisp.hostalias: the NIC's numbers, checked; a bad value
 * leaves the NIC off with one warning. */
static void test_net_keys(void)
{
	struct config c = { 0 };
	parse("wisp.net=10.0.2.15/24,10.0.2.2,10.0.3.3,65520 wisp.hostalias=10.0.2.2", &c);
	CHECK_INT(c.net.on, 1);
	const unsigned char *a = (const unsigned char *)&c.net.addr;
	CHECK(a[0] == 10 && a[1] == 0 && a[2] == 2 && a[3] == 15);
	CHECK_INT(c.net.prefix, 24);
	CHECK_INT(c.net.mtu, 65520);
	const unsigned char *d = (const unsigned char *)&c.net.dns;
	CHECK(d[0] == 10 && d[1] == 0 && d[2] == 3 && d[3] == 3);
	CHECK_INT(c.net.has_alias, 1);
	CHECK_INT(c.nwarnings, 0);
	config_free(&c);
	static const char *const bad[] = {
		"wisp.net=10.0.2.15/33,10.0.2.2,10.0.3.3,1500",
		"wisp.net=10.0.2.15/24,10.0.2.2,10.0.3.3,70000",
		"wisp.net=10.0.2.256/24,10.0.2.2,10.0.3.3,1500",
		"wisp.net=10.0.2.15/24,10.0.2.2,10.0.3.3",
		"wisp.net=10.0.2.15/24,10.0.2.2,10.0.3.3,1500x",
		"wisp.net=10.0.2/24,10.0.2.2,10.0.3.3,1500",
		"wisp.net=10.0.2.15/24,10.0.2.2,10.0.3.3,100",
		"wisp.hostalias=10.0.2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config b = { 0 };
		parse(bad[i], &b);
		CHECK_INT(b.net.on, 0);
		CHECK_INT(b.net.has_alias, 0);
		CHECK_INT(b.nwarnings, 1);
		config_free(&b);
	}
}

int main(void)
{
	test_defaults();
	test_cmd_roundtrip_any_bytes();
	test_command_after_dashes();
	test_wisp_cmd_wins_over_dashes();
	test_env_cwd_user_tty();
	test_bad_input_warns_and_keeps_defaults();
	test_time_keys();
	test_quotes_and_empty();
	test_too_many_args();
	test_base64();
	test_root_and_init();
	test_net_keys();
	return check_summary("test_config");
}

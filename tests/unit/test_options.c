/* Unit tests of the option parsing of `wisp run`, `start` and `exec`. */
#include <stdlib.h>

#include "../../boot/options.h"
#include "../../boot/vmm.h"
#include "check.h"

/* Parses words as the options of cmd, with the defaults d. */
static int parse_with(enum opts_cmd cmd, const struct opts_defaults *d, struct run_opts *o,
		      char *err, const char *const *words)
{
	static char *argv[64];
	int argc = 0;
	argv[argc++] = "x";
	for (; words[argc - 1]; argc++)
		argv[argc] = (char *)words[argc - 1];
	argv[argc] = NULL;
	err[0] = '\0';
	return parse_options(cmd, d, argc, argv, o, err, OPTIONS_ERR_LEN);
}

static int parse_cmd(enum opts_cmd cmd, struct run_opts *o, char *err, const char *const *words)
{
	return parse_with(cmd, NULL, o, err, words);
}

static int parse(struct run_opts *o, char *err, const char *const *words)
{
	return parse_cmd(OPTS_RUN, o, err, words);
}

static void test_defaults_and_command(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *w[] = { "--", "sh", "-c", "exit 7", NULL };
	CHECK_INT(parse(&o, err, w), 0);
	CHECK_STR(o.vmm, "qemu-microvm");
	CHECK_STR(o.accel, "tcg");
	CHECK_INT(o.memory_mib, 128);
	CHECK_INT(o.cpus, 1);
	CHECK_STR(o.fs, "9p");
	CHECK_INT(o.cid, 3);
	CHECK_INT(o.argc, 3);
	CHECK_STR(o.argv[0], "sh");
	CHECK_STR(o.argv[2], "exit 7");
}

static void test_accel_default_comes_from_the_caller(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *none[] = { NULL }, *tcg[] = { "--accel", "tcg", NULL };
	/* The environment is the caller's to read, not the parser's. */
	setenv("WISP_ACCEL", "kvm", 1);
	CHECK_INT(parse_with(OPTS_RUN, NULL, &o, err, none), 0);
	CHECK_STR(o.accel, "tcg");
	unsetenv("WISP_ACCEL");
	struct opts_defaults kvm = { .accel = "kvm" }, empty = { .accel = "" },
			     unset = { .accel = NULL }, hvf = { .accel = "hvf" };
	CHECK_INT(parse_with(OPTS_RUN, &kvm, &o, err, none), 0);
	CHECK_STR(o.accel, "kvm");
	CHECK_INT(parse_with(OPTS_RUN, &empty, &o, err, none), 0);
	CHECK_STR(o.accel, "tcg");
	CHECK_INT(parse_with(OPTS_RUN, &unset, &o, err, none), 0);
	CHECK_STR(o.accel, "tcg");
	CHECK_INT(parse_with(OPTS_RUN, &kvm, &o, err, tcg), 0);
	CHECK_STR(o.accel, "tcg"); /* the command line wins */
	/* A default is checked like the option. */
	CHECK_INT(parse_with(OPTS_RUN, &hvf, &o, err, none), -1);
	CHECK_STR(err, "unknown --accel 'hvf': want tcg or kvm");
	/* exec's VM is up already: the accelerator is none of its business. */
	const char *cmd[] = { "--", "true", NULL };
	CHECK_INT(parse_with(OPTS_EXEC, &hvf, &o, err, cmd), 0);
}

static void test_all_options(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *w[] = { "--vmm",   "qemu-q35",  "-m",       "64",        "--cpus",   "2",
			    "-e",      "A=1",       "--env",    "B",         "-w",       "/src",
			    "-u",      "1000:1000", "-it",      "--timeout", "2.5",      "--append",
			    "foo=bar", "--verbose", "--kernel", "/k",        "--initrd", "/i",
			    "echo",    "-n",        "x",        NULL };
	CHECK_INT(parse(&o, err, w), 0);
	CHECK_STR(err, "");
	CHECK_STR(o.vmm, "qemu-q35");
	CHECK_INT(o.memory_mib, 64);
	CHECK_INT(o.cpus, 2);
	CHECK_INT(o.nenv, 2);
	CHECK_STR(o.env[1], "B");
	CHECK_STR(o.workdir, "/src");
	CHECK_STR(o.user, "1000:1000");
	CHECK_INT(o.interactive, 1);
	CHECK_INT(o.tty, 1);
	CHECK_INT(o.tty_given, 1);
	CHECK(o.timeout > 2.49 && o.timeout < 2.51);
	CHECK_STR(o.append, "foo=bar");
	CHECK_INT(o.verbose, 1);
	CHECK_STR(o.kernel, "/k");
	CHECK_STR(o.initrd, "/i");
	CHECK_INT(o.argc, 3);
	CHECK_STR(o.argv[1], "-n"); /* options after the command are its own */

	const char *more[] = { "-v",
			       "/a:/b//c/:ro,cache=loose",
			       "--trace",
			       "--trace-json",
			       "/t.json",
			       "--vsock",
			       "/tmp/v",
			       "--cid",
			       "7",
			       "--rtc",
			       "2001-01-01T00:00:00",
			       "--qmp",
			       "/tmp/q",
			       "--fs",
			       "9p",
			       NULL };
	CHECK_INT(parse(&o, err, more), 0);
	CHECK_STR(err, "");
	CHECK_INT(o.nvolumes, 1);
	CHECK_STR(o.volumes[0].host, "/a");
	CHECK_STR(o.volumes[0].guest, "/b/c");
	CHECK_INT(o.volumes[0].ro, 1);
	CHECK_STR(o.volumes[0].cache, "loose");
	CHECK_INT(o.trace, 1);
	CHECK_STR(o.trace_json, "/t.json");
	CHECK_STR(o.vsock, "/tmp/v");
	CHECK_INT(o.cid, 7);
	CHECK_STR(o.rtc, "2001-01-01T00:00:00");
	CHECK_STR(o.qmp, "/tmp/q");
	CHECK_INT(o.argc, 0);
	free_run_options(&o);
}

static void test_errors(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	static const struct {
		const char *words[6], *want;
	} cases[] = {
		{ { "--bogus" }, "unknown option '--bogus'" },
		{ { "-z" }, "unknown option '-z'" },
		{ { "-iz" }, "unknown option '-z'" },
		{ { "--tty=1" }, "option '--tty' takes no value" },
		{ { "--memory" }, "option '--memory' needs a value" },
		{ { "-m" }, "option '-m' needs a value" },
		{ { "-im" }, "option '-m' needs a value" },
		{ { "-m", "8" }, "invalid --memory '8': want MiB, 36 to 1048576" },
		{ { "-m", "35" }, "invalid --memory '35': want MiB, 36 to 1048576" },
		{ { "-m", "1048577" }, "invalid --memory '1048577': want MiB, 36 to 1048576" },
		{ { "-m", "lots" }, "invalid --memory 'lots': want MiB, 36 to 1048576" },
		{ { "--cpus", "0" }, "invalid --cpus '0': want 1 to 64" },
		{ { "--cpus", "65" }, "invalid --cpus '65': want 1 to 64" },
		{ { "--cid", "2" }, "invalid --cid '2': want 3 to 4294967294" },
		{ { "--vmm", "bochs" },
		  "unknown --vmm 'bochs': want qemu-microvm, qemu-q35 or qemu-pc" },
		{ { "-w", "rel" }, "invalid --workdir 'rel': want an absolute path" },
		{ { "-u", "root" }, "invalid --user 'root': want UID[:GID]" },
		{ { "-u", "1:" }, "invalid --user '1:': want UID[:GID]" },
		{ { "--timeout", "-1" },
		  "invalid --timeout '-1': want seconds > 0, up to 31536000" },
		{ { "--timeout", "soon" },
		  "invalid --timeout 'soon': want seconds > 0, up to 31536000" },
		{ { "--timeout", "31536001" },
		  "invalid --timeout '31536001': want seconds > 0, up to 31536000" },
		{ { "-e", "=x" }, "invalid --env '=x': want K=V or K" },
		{ { "--accel", "hvf" }, "unknown --accel 'hvf': want tcg or kvm" },
		{ { "--fs", "nfs" }, "unknown --fs 'nfs': want 9p or virtiofs" },
		{ { "-v", "/a:/b:cache=auto" },
		  "invalid cache mode 'auto' for --fs 9p: want none, "
		  "mmap, loose or fscache" },
		{ { "--fs", "virtiofs", "-v", "/a:/b:cache=mmap" },
		  "invalid cache mode 'mmap' for --fs virtiofs: want auto, always or none" },
		{ { "-v", "/a:/b", "-v", "/c:/b/" }, "two volumes share the guest path /b" },
		{ { "-v", "/a" }, "invalid --volume '/a': want HOSTDIR:GUESTDIR[:ro]" },
		{ { "-v", "/a\\:/b" }, "invalid --volume '/a\\:/b': want HOSTDIR:GUESTDIR[:ro]" },
		{ { "-v", "/a\\q:/b" },
		  "invalid --volume '/a\\q:/b': a '\\' must be followed by ':' or '\\'" },
		{ { "-v", "/a:/b\\" },
		  "invalid --volume '/a:/b\\': a '\\' must be followed by ':' or '\\'" },
		{ { "-v", "/a:/b:owners" },
		  "invalid --volume option 'owners': want ro, rw, passthrough or cache=MODE" },
		{ { "--rtc", "2001-01-01,x" },
		  "invalid --rtc '2001-01-01,x': want utc, localtime, "
		  "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS" },
		{ { "--rtc", "2001-1-01" },
		  "invalid --rtc '2001-1-01': want utc, localtime, "
		  "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS" },
		{ { "--rtc", "now" },
		  "invalid --rtc 'now': want utc, localtime, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS" },
		{ { "--qmp", "" }, "invalid --qmp '': want a socket path of 1 to 100 bytes" },
		{ { "--vsock", "/"
			       "123456789012345678901234567890123456789012345678901234567890"
			       "1234567890123456789012345678901234567890" },
		  "invalid --vsock '/123456789012345678901234567890123456789012345678901234567890"
		  "1234567890123456789012345678901234567890': "
		  "want a socket path of 1 to 100 bytes" },
		{ { "--vsock", "/tmp/v", "--no-vsock" },
		  "--vsock and --no-vsock contradict each other" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(parse(&o, err, cases[i].words), -1);
		CHECK_STR(err, cases[i].want);
		free_run_options(&o);
	}
}

/* "\:" is a colon and "\\" a backslash in HOSTDIR and GUESTDIR; a comma
 * in HOSTDIR is only a comma; passthrough is a volume's own choice. */
static void test_volume_escapes_and_passthrough(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *w[] = { "-v", "/h\\:1:/g\\:1:ro,passthrough",
			    "-v", "a,source=/etc:/w",
			    "-v", "/x\\\\y:/z\\\\",
			    "-v", "/p:/q",
			    NULL };
	CHECK_INT(parse(&o, err, w), 0);
	CHECK_STR(err, "");
	CHECK_INT(o.nvolumes, 4);
	CHECK_STR(o.volumes[0].host, "/h:1");
	CHECK_STR(o.volumes[0].guest, "/g:1");
	CHECK_INT(o.volumes[0].ro, 1);
	CHECK_INT(o.volumes[0].passthrough, 1);
	CHECK_STR(o.volumes[1].host, "a,source=/etc");
	CHECK_STR(o.volumes[1].guest, "/w");
	CHECK_INT(o.volumes[1].ro, 0);
	CHECK_INT(o.volumes[1].passthrough, 0);
	CHECK(o.volumes[1].cache == NULL);
	CHECK_STR(o.volumes[2].host, "/x\\y");
	CHECK_STR(o.volumes[2].guest, "/z\\");
	CHECK_INT(o.volumes[3].passthrough, 0);
	free_run_options(&o);
}

/* Each machine boots with its own minimum and is refused one MiB below it,
 * with a line that says the minimum. */
static void test_memory_minimum_is_each_vmms(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN], names[128], least[16], below[16], want[OPTIONS_ERR_LEN];
	vmm_names(names, sizeof(names));
	for (char *name = strtok(names, "|"); name; name = strtok(NULL, "|")) {
		const struct vmm *vmm = vmm_find(name);
		CHECK(vmm != NULL);
		if (!vmm)
			continue;
		snprintf(least, sizeof(least), "%u", vmm->min_memory_mib);
		snprintf(below, sizeof(below), "%u", vmm->min_memory_mib - 1);
		const char *ok[] = { "--vmm", name, "-m", least, NULL };
		CHECK_INT(parse(&o, err, ok), 0);
		CHECK_STR(err, "");
		const char *small[] = { "--vmm", name, "-m", below, NULL };
		CHECK_INT(parse(&o, err, small), -1);
		CHECK(strstr(err, least) != NULL);
		if (vmm->min_memory_mib > 36) {
			snprintf(want, sizeof(want),
				 "--memory below %u MiB does not boot on %s "
				 "(its firmware takes a share)",
				 vmm->min_memory_mib, name);
			CHECK_STR(err, want);
		}
	}
	CHECK(vmm_find("bochs") == NULL);
}

/* A value each option takes, to try it with every command. */
static const char *sample_value(const char *name)
{
	static const char *const samples[][2] = {
		{ "env", "A=1" },
		{ "workdir", "/" },
		{ "user", "1:1" },
		{ "name", "vm" },
		{ "vmm", "qemu-q35" },
		{ "accel", "kvm" },
		{ "memory", "64" },
		{ "cpus", "2" },
		{ "kernel", "/k" },
		{ "initrd", "/i" },
		{ "append", "a=1" },
		{ "rtc", "utc" },
		{ "volume", "/tmp:/mnt" },
		{ "fs", "virtiofs" },
		{ "net", "user" },
		{ "publish", "8080:80" },
		{ "host-port", "5432" },
		{ "vsock", "/tmp/v" },
		{ "cid", "4" },
		{ "qmp", "/tmp/q" },
		{ "timeout", "1" },
		{ "trace-json", "/t" },
		{ "rootfs", "host" },
		{ "init", "/sbin/init" },
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		if (!strcmp(samples[i][0], name))
			return samples[i][1];
	return NULL;
}

/* The words that make cmd's command line complete, after the option. */
static void complete(enum opts_cmd cmd, const char **w, int *n)
{
	if (cmd == OPTS_START) {
		w[(*n)++] = "--name";
		w[(*n)++] = "x";
	}
	if (cmd == OPTS_EXEC) {
		w[(*n)++] = "--";
		w[(*n)++] = "true";
	}
	w[*n] = NULL;
}

/* Every row is taken by the commands it names, in its long and its short
 * form, and refused by the others with a line that names it as given. */
static void test_each_option_applies_to_its_commands_only(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN], longname[64], shortname[8], want[OPTIONS_ERR_LEN];
	size_t rows = 0;
	for (const struct opt_row *r = options_table; r->name; r++, rows++) {
		const char *value = sample_value(r->name);
		if (r->metavar && !value) {
			fprintf(stderr, "test_options: no sample value for --%s\n", r->name);
			CHECK(value != NULL);
			continue;
		}
		CHECK(r->help[0] != NULL);
		CHECK(r->cmds != 0);
		snprintf(longname, sizeof(longname), "--%s", r->name);
		snprintf(shortname, sizeof(shortname), "-%c", r->letter);
		for (int form = 0; form < (r->letter ? 2 : 1); form++) {
			const char *given = form ? shortname : longname;
			for (enum opts_cmd cmd = 0; cmd < OPTS_NCMDS; cmd++) {
				const char *w[8];
				int n = 0;
				w[n++] = given;
				if (r->metavar)
					w[n++] = value;
				if (!strcmp(r->name, "init")) {
					w[n++] = "--rootfs"; /* --init needs it */
					w[n++] = "host";
				}
				complete(cmd, w, &n);
				int got = parse_cmd(cmd, &o, err, w);
				free_run_options(&o);
				if (r->cmds & OPTS_FOR(cmd)) {
					if (got != 0)
						fprintf(stderr, "test_options: wisp %s %s: %s\n",
							options_cmd_name(cmd), given, err);
					CHECK_INT(got, 0);
					continue;
				}
				snprintf(want, sizeof(want),
					 "option '%s' does not apply to wisp %s", given,
					 options_cmd_name(cmd));
				CHECK_INT(got, -1);
				CHECK_STR(err, want);
			}
		}
	}
	CHECK(rows >= 25);
}

/* Which options each command takes, spelled out: the table must not
 * change them by accident. */
static void test_which_commands_take_which_options(void)
{
	static const char *const want[OPTS_NCMDS] = {
		[OPTS_RUN] =
			" env workdir user interactive tty vmm accel memory cpus kernel initrd"
			" append rootfs init rtc volume fs net publish host-port vsock cid no-vsock qmp"
			" port-forward no-port-forward timeout trace"
			" trace-json"
			" verbose help ",
		[OPTS_START] =
			" name vmm accel memory cpus kernel initrd append rootfs init rtc volume"
			" fs net publish host-port vsock cid no-vsock qmp port-forward no-port-forward"
			" timeout trace-json verbose help ",
		[OPTS_EXEC] = " env workdir user interactive tty timeout trace help ",
	};
	for (enum opts_cmd cmd = 0; cmd < OPTS_NCMDS; cmd++) {
		char got[512] = " ";
		for (const struct opt_row *r = options_table; r->name; r++) {
			size_t at = strlen(got);
			if (r->cmds & OPTS_FOR(cmd))
				snprintf(got + at, sizeof(got) - at, "%s ", r->name);
		}
		CHECK_STR(got, want[cmd]);
	}
}

/* Whether the usage text lists --name (as "--name" then a space or the
 * end of the line). */
static int mentions(const char *text, const char *name)
{
	char opt[64];
	snprintf(opt, sizeof(opt), "--%s", name);
	for (const char *p = strstr(text, opt); p; p = strstr(p + 1, opt))
		if (p[strlen(opt)] == ' ' || p[strlen(opt)] == '\n')
			return 1;
	return 0;
}

static void test_usage_lists_each_commands_options(void)
{
	char names[128];
	vmm_names(names, sizeof(names));
	for (enum opts_cmd cmd = 0; cmd < OPTS_NCMDS; cmd++) {
		char *text = NULL;
		size_t size = 0;
		FILE *f = open_memstream(&text, &size);
		CHECK(f != NULL);
		if (!f)
			return;
		options_usage(cmd, f);
		fclose(f);
		char synopsis[64];
		snprintf(synopsis, sizeof(synopsis), "usage: wisp %s ", options_cmd_name(cmd));
		CHECK(!strncmp(text, synopsis, strlen(synopsis)));
		for (const struct opt_row *r = options_table; r->name; r++) {
			int want = (r->cmds & OPTS_FOR(cmd)) != 0;
			if (mentions(text, r->name) != want)
				fprintf(stderr, "test_options: usage of wisp %s: --%s %s\n",
					options_cmd_name(cmd), r->name,
					want ? "missing" : "listed");
			CHECK_INT(mentions(text, r->name), want);
			if (r->letter && want) {
				char both[80];
				snprintf(both, sizeof(both), "-%c, --%s", r->letter, r->name);
				CHECK(strstr(text, both) != NULL);
			}
		}
		for (char *line = text, *end; *line; line = end + 1) {
			end = strchr(line, '\n');
			CHECK(end != NULL);
			if (!end)
				break;
			if (end - line >= 100)
				fprintf(stderr, "test_options: %d columns: %.*s\n",
					(int)(end - line), (int)(end - line), line);
			CHECK(end - line < 100);
		}
		if (cmd != OPTS_EXEC)
			CHECK(strstr(text, names) != NULL); /* --vmm's choices */
		if (cmd == OPTS_START)
			CHECK(strstr(text, "(default 60)") != NULL);
		free(text);
	}
}

static void test_start_exec_and_serve(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *start[] = { "--name", "web-1.a_b", "-m",  "64", "--append",
				"a=1",    "--append",  "b=2", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, start), 0);
	CHECK_STR(o.name, "web-1.a_b");
	CHECK_STR(o.append, "a=1 b=2");
	const char *noname[] = { "-m", "64", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, noname), -1);
	CHECK_STR(err, "wisp start needs --name NAME");
	const char *help[] = { "--help", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, help), 0);
	CHECK_INT(o.help, 1);
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, help), 0);
	CHECK_INT(o.help, 1);
	const char *badname[] = { "--name", "a/b", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, badname), -1);
	CHECK_STR(err, "invalid --name 'a/b': want 1-32 of A-Z a-z 0-9 . _ -, "
		       "not starting with . or -");
	const char *cmd[] = { "--name", "x", "--", "ls", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, cmd), -1);
	CHECK_STR(err, "wisp start takes no command ('ls'): use wisp exec");
	const char *tty[] = { "--name", "x", "-t", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, tty), -1);
	CHECK_STR(err, "option '-t' does not apply to wisp start");
	const char *vmopt[] = { "--vmm", "qemu-q35", "--", "ls", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, vmopt), -1);
	CHECK_STR(err, "option '--vmm' does not apply to wisp exec");
	const char *memory[] = { "-m", "64", "--", "ls", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, memory), -1);
	CHECK_STR(err, "option '-m' does not apply to wisp exec");
	const char *none[] = { "-i", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, none), -1);
	CHECK_STR(err, "wisp exec needs a command");
	const char *named[] = { "--name", "x", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, err, named), -1);
	CHECK_STR(err, "option '--name' does not apply to wisp run");

	CHECK(vm_name_valid("a"));
	CHECK(vm_name_valid("01234567890123456789012345678901"));
	CHECK(!vm_name_valid(""));
	CHECK(!vm_name_valid("../x"));
	CHECK(!vm_name_valid("-x"));
	CHECK(!vm_name_valid(".x"));
	CHECK(!vm_name_valid("012345678901234567890123456789012"));
}

/* exec finds its VM's name after options, read as parse_options() reads them. */
static void test_first_operand(void)
{
	char *a[] = { "exec", "-i", "--env", "A=1", "-w/tmp", "--tim=3", "vm", "ls", NULL };
	CHECK_INT(options_first_operand(8, a), 6);
	char *b[] = { "exec", "vm", "-i", "ls", NULL };
	CHECK_INT(options_first_operand(4, b), 1);
	char *c[] = { "exec", "-i", "--", "ls", NULL };
	CHECK_INT(options_first_operand(4, c), -1);
	char *d[] = { "exec", "-m", "64", NULL };
	CHECK_INT(options_first_operand(3, d), -1);
	char *e[] = { "exec", "-it", "-e", "K", "vm", NULL };
	CHECK_INT(options_first_operand(5, e), 4);
}

/* --rootfs SOURCE[:rw] splits off only a final ":rw"; --init is an
 * absolute path the kernel command line carries, and needs --rootfs. */
static void test_rootfs_and_init(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *img_rw[] = { "--rootfs", "/a:b.img:rw", NULL };
	CHECK_INT(parse(&o, err, img_rw), 0);
	CHECK_STR(o.root.source, "/a:b.img");
	CHECK_INT(o.root.rw, 1);
	const char *colon[] = { "--rootfs", "/a:ro", "--init", "/sbin/init", "--", "x", NULL };
	CHECK_INT(parse(&o, err, colon), 0);
	CHECK_STR(o.root.source, "/a:ro");
	CHECK_INT(o.root.rw, 0);
	CHECK_STR(o.init, "/sbin/init");
	CHECK_INT(o.argc, 1);
	const char *none[] = { "--", "x", NULL };
	CHECK_INT(parse(&o, err, none), 0);
	CHECK(o.root.source == NULL && o.init == NULL);
	const char *empty[] = { "--rootfs", "", NULL };
	CHECK_INT(parse(&o, err, empty), -1);
	CHECK_STR(err, "invalid --rootfs '': want host, DIR or IMAGE[:rw]");
	const char *alone[] = { "--init", "/sbin/init", NULL };
	CHECK_INT(parse(&o, err, alone), -1);
	CHECK_STR(err, "--init needs --rootfs: the initramfs has no other init");
	const char *relative[] = { "--rootfs", "host", "--init", "sbin/init", NULL };
	CHECK_INT(parse(&o, err, relative), -1);
	CHECK_STR(err, "invalid --init 'sbin/init': want an absolute path");
	const char *space[] = { "--rootfs", "host", "--init", "/sbin/my init", NULL };
	CHECK_INT(parse(&o, err, space), -1);
	CHECK(strstr(err, "no spaces") != NULL);
	struct run_opts e;
	const char *w[] = { "--rootfs", "host", "--", "true", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &e, err, w), -1);
	CHECK_STR(err, "option '--rootfs' does not apply to wisp exec");
}

/* -p: Docker's syntax and defaults; every bad value is one line. */
static void test_publish(void)
{
	struct publish p;
	char err[OPTIONS_ERR_LEN];
	CHECK(parse_publish("8080:80", &p, err, sizeof(err)) == 0);
	CHECK_STR(p.host_ip, "127.0.0.1");
	CHECK(p.host_port == 8080 && p.guest_port == 80 && !p.udp);
	CHECK(parse_publish("0.0.0.0:53:5353/udp", &p, err, sizeof(err)) == 0);
	CHECK_STR(p.host_ip, "0.0.0.0");
	CHECK(p.host_port == 53 && p.guest_port == 5353 && p.udp);
	CHECK(parse_publish("65535:1/tcp", &p, err, sizeof(err)) == 0);
	static const char *const bad[] = { "80",       "0:80",        "80:0",   "65536:80",
					   "80:65536", "80:80/sctp",  "80:80/", "1.2.3:80:80",
					   ":80:80",   "a:80",        "80:b",   "1.2.3.4:80",
					   "-1:80",    "80:80:80:80", "",       "+80:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(parse_publish(bad[i], &p, err, sizeof(err)) < 0);
		CHECK(strstr(err, "invalid -p") != NULL);
	}
	struct run_opts o;
	const char *dup[] = { "wisp", "--net", "user", "-p", "80:80", "-p", "1.2.3.4:80:81", NULL };
	CHECK(parse_options(OPTS_RUN, NULL, 7, (char **)dup, &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "published twice") != NULL);
	const char *both[] = { "wisp", "--net", "user", "-p", "80:80", "-p", "80:80/udp", NULL };
	CHECK(parse_options(OPTS_RUN, NULL, 7, (char **)both, &o, err, sizeof(err)) == 0);
	CHECK(o.npublish == 2);
	const char *implied[] = { "wisp", "-p", "80:80", NULL };
	CHECK(parse_options(OPTS_RUN, NULL, 3, (char **)implied, &o, err, sizeof(err)) == 0);
	CHECK_STR(o.net, "user");
	const char *none[] = { "wisp", "--net", "none", "-p", "80:80", NULL };
	CHECK(parse_options(OPTS_RUN, NULL, 5, (char **)none, &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "needs --net user") != NULL);
	const char *port[] = { "wisp", "--net", "user", "--host-port", "70000", NULL };
	CHECK(parse_options(OPTS_RUN, NULL, 5, (char **)port, &o, err, sizeof(err)) < 0);
	const char *net[] = { "wisp", "--net", "bridge", NULL };
	CHECK(parse_options(OPTS_RUN, NULL, 3, (char **)net, &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "unknown --net 'bridge'") != NULL);
}

int main(void)
{
	test_start_exec_and_serve();
	test_defaults_and_command();
	test_accel_default_comes_from_the_caller();
	test_all_options();
	test_errors();
	test_volume_escapes_and_passthrough();
	test_memory_minimum_is_each_vmms();
	test_which_commands_take_which_options();
	test_each_option_applies_to_its_commands_only();
	test_usage_lists_each_commands_options();
	test_first_operand();
	test_rootfs_and_init();
	test_publish();
	return check_summary("test_options");
}

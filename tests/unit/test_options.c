/* Unit tests of the option parsing of `wisp run`, `start` and `exec`. */
#include <stdlib.h>

#include "../../boot/options.h"
#include "check.h"

static int parse(struct run_opts *o, char *err, const char *const *words)
{
	static char *argv[64];
	int argc = 0;
	argv[argc++] = "run";
	for (; words[argc - 1]; argc++)
		argv[argc] = (char *)words[argc - 1];
	argv[argc] = NULL;
	err[0] = '\0';
	return parse_run_options(argc, argv, o, err, OPTIONS_ERR_LEN);
}

static void test_defaults_and_command(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	unsetenv("WISP_ACCEL");
	const char *w[] = { "--", "sh", "-c", "exit 7", NULL };
	CHECK_INT(parse(&o, err, w), 0);
	CHECK_STR(o.vmm, "qemu-microvm");
	CHECK_STR(o.accel, "tcg");
	CHECK_INT(o.memory_mib, 128);
	CHECK_INT(o.cpus, 1);
	CHECK_INT(o.argc, 3);
	CHECK_STR(o.argv[0], "sh");
	CHECK_STR(o.argv[2], "exit 7");
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
	CHECK(o.timeout > 2.49 && o.timeout < 2.51);
	CHECK_STR(o.append, "foo=bar");
	CHECK_INT(o.verbose, 1);
	CHECK_STR(o.kernel, "/k");
	CHECK_INT(o.argc, 3);
	CHECK_STR(o.argv[1], "-n"); /* options after the command are its own */
}

static void test_errors(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *const cases[][5] = {
		{ "--bogus", NULL },
		{ "-m", "8", NULL },
		{ "-m", "lots", NULL },
		{ "--cpus", "0", NULL },
		{ "--vmm", "bochs", NULL },
		{ "-w", "rel", NULL },
		{ "-u", "root", NULL },
		{ "-u", "1:", NULL },
		{ "--timeout", "-1", NULL },
		{ "--timeout", "soon", NULL },
		{ "-e", "=x", NULL },
		{ "--accel", "hvf", NULL },
		{ "--memory", NULL },
		{ "--rtc", "2001-01-01,x", NULL },
		{ "--rtc", "2001-1-01", NULL },
		{ "--rtc", "now", NULL },
		{ "--qmp", "", NULL },
		{ "-m", "35", "--vmm", "qemu-pc", NULL },
	};
	const char *want[] = {
		"unknown option '--bogus'",
		"invalid --memory '8': want MiB, 32 or more",
		"invalid --memory 'lots': want MiB, 32 or more",
		"invalid --cpus '0': want 1 to 64",
		"unknown --vmm 'bochs': want qemu-microvm, qemu-q35 or qemu-pc",
		"invalid --workdir 'rel': want an absolute path",
		"invalid --user 'root': want UID[:GID]",
		"invalid --user '1:': want UID[:GID]",
		"invalid --timeout '-1': want seconds > 0",
		"invalid --timeout 'soon': want seconds > 0",
		"invalid --env '=x': want K=V or K",
		"unknown --accel 'hvf': want tcg or kvm",
		"option '--memory' needs a value",
		"invalid --rtc '2001-01-01,x': want utc, localtime, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
		"invalid --rtc '2001-1-01': want utc, localtime, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
		"invalid --rtc 'now': want utc, localtime, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
		"invalid --qmp '': want a socket path under 100 bytes",
		"--memory below 36 MiB does not boot on qemu-pc (its firmware takes a share)",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_INT(parse(&o, err, cases[i]), -1);
		CHECK_STR(err, want[i]);
	}
}

static int parse_cmd(enum opts_cmd cmd, struct run_opts *o, char *err, const char *const *words)
{
	static char *argv[64];
	int argc = 0;
	argv[argc++] = "x";
	for (; words[argc - 1]; argc++)
		argv[argc] = (char *)words[argc - 1];
	argv[argc] = NULL;
	err[0] = '\0';
	return parse_options(cmd, argc, argv, o, err, OPTIONS_ERR_LEN);
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
	const char *cmd[] = { "--name", "x", "--", "ls", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, cmd), -1);
	CHECK_STR(err, "wisp start takes no command ('ls'): use wisp exec");
	const char *tty[] = { "--name", "x", "-t", NULL };
	CHECK_INT(parse_cmd(OPTS_START, &o, err, tty), -1);
	CHECK_STR(err, "option '-t' does not apply to wisp start");
	const char *vmopt[] = { "--vmm", "qemu-q35", "--", "ls", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, vmopt), -1);
	CHECK_STR(err, "option '--vmm' does not apply to wisp exec");
	const char *none[] = { "-i", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, none), -1);
	CHECK_STR(err, "wisp exec needs a command");
	const char *both[] = { "--vsock", "/tmp/v", "--no-vsock", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, err, both), -1);
	const char *named[] = { "--name", "x", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, err, named), -1);
	CHECK_STR(err, "option '--name' does not apply to wisp run");

	CHECK(vm_name_valid("a"));
	CHECK(!vm_name_valid(""));
	CHECK(!vm_name_valid("../x"));
	CHECK(!vm_name_valid("-x"));
	CHECK(!vm_name_valid(".x"));
	CHECK(!vm_name_valid("012345678901234567890123456789012"));
}

int main(void)
{
	test_start_exec_and_serve();
	test_defaults_and_command();
	test_all_options();
	test_errors();
	return check_summary("test_options");
}

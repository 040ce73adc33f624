/* Unit tests of `wisp run` option parsing and the guest command line. */
#include <stdlib.h>

#include "../../boot/kcmdline.h"
#include "../../boot/options.h"
#include "../../boot/vmm.h"
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
	const char *w[] = { "--vmm", "qemu-q35", "-m", "64", "--cpus", "2", "-e", "A=1", "--env",
			    "B", "-w", "/src", "-u", "1000:1000", "-it", "--timeout", "2.5",
			    "--append", "foo=bar", "--verbose", "--kernel", "/k", "--initrd", "/i",
			    "echo", "-n", "x", NULL };
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
		{ "--bogus", NULL }, { "-m", "8", NULL }, { "-m", "lots", NULL },
		{ "--cpus", "0", NULL }, { "--vmm", "bochs", NULL }, { "-w", "rel", NULL },
		{ "-u", "root", NULL }, { "-u", "1:", NULL }, { "--timeout", "-1", NULL },
		{ "--timeout", "soon", NULL }, { "-e", "=x", NULL }, { "--accel", "hvf", NULL },
		{ "--memory", NULL }, { "--rtc", "2001-01-01,x", NULL }, { "--rtc", "2001-1-01", NULL },
		{ "--rtc", "now", NULL }, { "--qmp", "", NULL }, { "-m", "35", "--vmm", "qemu-pc", NULL },
	};
	const char *want[] = {
		"unknown option '--bogus'", "invalid --memory '8': want MiB, 32 or more",
		"invalid --memory 'lots': want MiB, 32 or more", "invalid --cpus '0': want 1 to 64",
		"unknown --vmm 'bochs': want qemu-microvm, qemu-q35 or qemu-pc",
		"invalid --workdir 'rel': want an absolute path", "invalid --user 'root': want UID[:GID]",
		"invalid --user '1:': want UID[:GID]", "invalid --timeout '-1': want seconds > 0",
		"invalid --timeout 'soon': want seconds > 0", "invalid --env '=x': want K=V or K",
		"unknown --accel 'hvf': want tcg or kvm", "option '--memory' needs a value",
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

static int has_arg(const struct argv_list *a, const char *flag, const char *value)
{
	for (int i = 0; i + 1 < a->n; i++)
		if (!strcmp(a->v[i], flag) && !strcmp(a->v[i + 1], value))
			return 1;
	return 0;
}

static void test_rtc_and_qmp_reach_qemu(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	const char *w[] = { "--rtc", "2001-01-01T00:00:00", "--qmp", "/tmp/q,1.sock", "true", NULL };
	CHECK_INT(parse(&o, err, w), 0);
	CHECK_STR(o.rtc, "2001-01-01T00:00:00");
	CHECK_STR(o.qmp, "/tmp/q,1.sock");
	struct vm_spec spec = { .o = &o, .kernel = "/k", .initrd = "/i", .cmdline = "quiet" };
	struct argv_list a;
	for (int m = 0; m < 2; m++) {
		const struct vmm *vmm = vmm_find(m ? "qemu-q35" : "qemu-microvm");
		CHECK_INT(vmm->build_argv(vmm, &spec, &a), 0);
		CHECK(has_arg(&a, "-rtc", "base=2001-01-01T00:00:00"));
		CHECK(has_arg(&a, "-qmp", "unix:/tmp/q,,1.sock,server=on,wait=off"));
		for (int i = 0; i < a.n; i++)
			free(a.v[i]);
	}
	const char *w2[] = { "--rtc", "localtime", "true", NULL };
	CHECK_INT(parse(&o, err, w2), 0);
	CHECK(o.qmp == NULL);
	const struct vmm *vmm = vmm_find("qemu-microvm");
	vmm->build_argv(vmm, &spec, &a);
	CHECK(has_arg(&a, "-rtc", "base=localtime"));
	int qmp = 0;
	for (int i = 0; i < a.n; i++) {
		qmp |= !strcmp(a.v[i], "-qmp");
		free(a.v[i]);
	}
	CHECK_INT(qmp, 0);
}

static void test_kcmdline(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN], line[KCMDLINE_MAX];
	const char *w[] = { "-e", "HOSTVAR", "-e", "X=1", "-w", "/w", "--append", "last=1", "--",
			    "echo", "hi", NULL };
	CHECK_INT(parse(&o, err, w), 0);
	char *host_env[] = { "HOSTVAR=from host", NULL };
	struct guest_setup g = { .o = &o, .nonce = "00ff", .stdin_open = 1, .tsc_khz = 2000000,
				 .no_pci = 1, .host_env = host_env };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " noreplace-smp") == NULL); /* a hypervisor: the kernel's choice */
	g.tcg = 1;
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " noreplace-smp") != NULL);
	CHECK(strstr(line, "console=ttyS0 reboot=t panic=-1 quiet") == line);
	CHECK(strstr(line, " tsc_early_khz=2000000") != NULL);
	CHECK(strstr(line, " pci=off") != NULL);
	CHECK(strstr(line, " wisp.nonce=00ff") != NULL);
	CHECK(strstr(line, " wisp.cmd=ZWNobwBoaQA=") != NULL);       /* "echo\0hi\0" */
	CHECK(strstr(line, " wisp.env=SE9TVFZBUj1mcm9tIGhvc3QAWD0xAA==") != NULL);
	CHECK(strstr(line, " wisp.cwd=L3cA") != NULL);
	CHECK(strstr(line, " wisp.stdin=1") != NULL);
	CHECK(strstr(line, " last=1") == line + strlen(line) - strlen(" last=1"));
	CHECK(strstr(line, "wisp.now=") == NULL); /* no launch time given */
	g.now = (struct timespec){ 1795478400, 5 };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " wisp.now=1795478400.000000005 ") != NULL);
	CHECK(strstr(line, " wisp.now=") < strstr(line, " last=1")); /* --append still wins */
	g.now = (struct timespec){ 0, 0 };

	static char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	const char *w2[] = { "--", big, NULL };
	CHECK_INT(parse(&o, err, w2), 0);
	g.o = &o;
	CHECK_INT(build_kcmdline(&g, line, err, sizeof(err)), -1);
	CHECK(strstr(err, "do not fit") != NULL);
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
	char err[OPTIONS_ERR_LEN], line[KCMDLINE_MAX];
	const char *start[] = { "--name", "web-1.a_b", "-m", "64", "--append", "a=1", "--append", "b=2",
				NULL };
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

	/* Serving: the command goes in the EXEC frame, not on the kernel line. */
	const char *exec[] = { "-u", "5:6", "-w", "/w", "--", "echo", "hi", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, err, exec), 0);
	struct guest_setup g = { .o = &o, .nonce = "00", .serve = 1, .tty = 1, .rows = 30, .cols = 100 };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " wisp.io=vsock") != NULL);
	CHECK(strstr(line, "wisp.cmd") == NULL && strstr(line, "wisp.user") == NULL);
	static char keys[65536];
	CHECK(build_exec_keys(&g, keys, sizeof(keys), err, sizeof(err)) > 0);
	CHECK(strstr(keys, " wisp.cmd=ZWNobwBoaQA=") != NULL);
	CHECK(strstr(keys, " wisp.user=5:6") != NULL);
	CHECK(strstr(keys, " wisp.cwd=L3cA") != NULL);
	CHECK(strstr(keys, " wisp.tty=30x100") != NULL);
	CHECK(strstr(keys, "wisp.nonce") == NULL);
	CHECK_INT(build_exec_keys(&g, keys, 10, err, sizeof(err)), -1);
}

int main(void)
{
	test_start_exec_and_serve();
	test_defaults_and_command();
	test_all_options();
	test_errors();
	test_rtc_and_qmp_reach_qemu();
	test_kcmdline();
	return check_summary("test_options");
}

/* Unit tests of the guest's kernel command line, the EXEC keys and the
 * VMM command lines (boot/kcmdline.c, boot/vmm*.c). */
#include <stdlib.h>
#include <unistd.h>

#include "../../boot/kcmdline.h"
#include "../../boot/options.h"
#include "../../boot/vmm.h"
#include "check.h"

static int parse_cmd(enum opts_cmd cmd, struct run_opts *o, const char *const *words)
{
	static char *argv[64];
	char err[OPTIONS_ERR_LEN];
	int argc = 0;
	argv[argc++] = "x";
	for (; words[argc - 1]; argc++)
		argv[argc] = (char *)words[argc - 1];
	argv[argc] = NULL;
	int r = parse_options(cmd, NULL, argc, argv, o, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "parse: %s\n", err);
	return r;
}

static int has_arg(const struct vmm_launch *l, const char *flag, const char *value)
{
	for (int i = 0; i + 1 < l->argc; i++)
		if (!strcmp(l->argv[i], flag) && !strcmp(l->argv[i + 1], value))
			return 1;
	return 0;
}

static int passes_fd(const struct vmm_launch *l, int from, int to)
{
	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i].from == from && l->fds[i].to == to)
			return 1;
	return 0;
}

static void test_rtc_and_qmp_reach_qemu(void)
{
	struct run_opts o;
	const char *w[] = {
		"--rtc", "2001-01-01T00:00:00", "--qmp", "/tmp/q,1.sock", "true", NULL
	};
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w), 0);
	struct vm_spec spec = { .o = &o, .kernel = "/k", .initrd = "/i", .cmdline = "quiet" };
	struct vm_fds fds = { .console = 10, .channel = -1, .vsock = -1, .qmp = 11 };
	struct vmm_launch l;
	for (int m = 0; m < 2; m++) {
		const struct vmm *vmm = vmm_find(m ? "qemu-q35" : "qemu-microvm");
		CHECK_INT(vmm->launch(vmm, &spec, &fds, &l), 0);
		CHECK(has_arg(&l, "-rtc", "base=2001-01-01T00:00:00"));
		CHECK(has_arg(&l, "-chardev", "socket,id=qmp,fd=6,server=on,wait=off"));
		CHECK(has_arg(&l, "-mon", "chardev=qmp,mode=control"));
		CHECK(passes_fd(&l, 11, 6));
		CHECK(has_arg(&l, "-M",
			      m ? "q35,accel=tcg"
				: "microvm,accel=tcg,x-option-roms=off,acpi=off,rtc=on"));
		CHECK(passes_fd(&l, 10, 3));
		CHECK_INT(l.nfds, 2);
		vmm_launch_free(&l);
	}
	const char *w2[] = { "--rtc", "localtime", "true", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w2), 0);
	CHECK(o.qmp == NULL);
	const struct vmm *vmm = vmm_find("qemu-microvm");
	fds.qmp = -1; /* wisp made no QMP socket */
	CHECK_INT(vmm->launch(vmm, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-rtc", "base=localtime"));
	int qmp = 0;
	for (int i = 0; i < l.argc; i++)
		qmp |= !strcmp(l.argv[i], "-mon") || !strcmp(l.argv[i], "-qmp");
	CHECK_INT(qmp, 0);
	vmm_launch_free(&l);
}

/* Each device's fd goes where its -chardev says, and only those given. */
static void test_devices_and_fds(void)
{
	struct run_opts o;
	const char *w[] = { "--fs", "virtiofs", "-v", "/a:/a", "-v", "/b:/b", "true", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w), 0);
	struct vm_spec spec = {
		.o = &o, .kernel = "/k", .initrd = "/i", .cmdline = "quiet", .vsock = 1
	};
	struct vm_fds fds = {
		.console = 10,
		.channel = -1,
		.vsock = 11,
		.shares = { 12, 13 },
		.qmp = -1,
	};
	struct vmm_launch l;
	const struct vmm *vmm = vmm_find("qemu-pc");
	CHECK_INT(vmm->launch(vmm, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-M", "pc,accel=tcg"));
	CHECK(has_arg(&l, "-chardev", "socket,id=vsock,fd=5"));
	CHECK(has_arg(&l, "-device", "vhost-user-vsock-pci,chardev=vsock"));
	CHECK(has_arg(&l, "-chardev", "socket,id=vfs1,fd=8"));
	CHECK(has_arg(&l, "-device", "vhost-user-fs-pci,chardev=vfs1,tag=wisp1"));
	CHECK(has_arg(&l, "-object", "memory-backend-memfd,id=mem,size=128M,share=on"));
	CHECK(passes_fd(&l, 11, 5) && passes_fd(&l, 12, 7) && passes_fd(&l, 13, 8));
	CHECK_INT(l.nfds, 4);
	vmm_launch_free(&l);
	free_run_options(&o);
}

/* 9p: the host path is one value however it is named, and the guest's
 * owners and modes reach the host only on a passthrough volume. */
static void test_9p_volumes(void)
{
	struct run_opts o;
	const char *w[] = { "-v", "/a,source=/etc:/a", "-v", "/c:/c:ro,passthrough", "true", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w), 0);
	struct vm_spec spec = { .o = &o, .kernel = "/k", .initrd = "/i", .cmdline = "quiet" };
	struct vm_fds fds = { .console = 10, .channel = -1, .vsock = -1, .qmp = -1 };
	struct vmm_launch l;
	const struct vmm *vmm = vmm_find("qemu-microvm");
	CHECK_INT(vmm->launch(vmm, &spec, &fds, &l), 0);
	if (geteuid() == 0) {
		CHECK(has_arg(&l, "-fsdev",
			      "local,id=fs0,path=/a,,source=/etc,security_model=mapped-xattr,"
			      "fmode=0600,dmode=0700"));
		CHECK(has_arg(&l, "-fsdev",
			      "local,id=fs1,path=/c,security_model=passthrough,readonly=on"));
	} else {
		CHECK(has_arg(&l, "-fsdev",
			      "local,id=fs0,path=/a,,source=/etc,security_model=none"));
	}
	CHECK(has_arg(&l, "-device", "virtio-9p-device,fsdev=fs1,mount_tag=wisp1"));
	vmm_launch_free(&l);
	free_run_options(&o);
}

static void test_vmm_table(void)
{
	char names[128];
	vmm_names(names, sizeof(names));
	CHECK_STR(names, "qemu-microvm|qemu-q35|qemu-pc");
	CHECK(vmm_find("bochs") == NULL);
	CHECK_INT(vmm_find("qemu-microvm")->min_memory_mib, 36);
	CHECK_INT(vmm_find("qemu-q35")->min_memory_mib, 36);
	vmm_names(names, 8); /* cut, never overrun */
	CHECK_STR(names, "qemu-mi");
}

static void test_kcmdline(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN], line[KCMDLINE_MAX];
	const char *w[] = { "-e",       "HOSTVAR", "-e", "X=1",  "-w", "/w",
			    "--append", "last=1",  "--", "echo", "hi", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w), 0);
	char *host_env[] = { "HOSTVAR=from host", NULL };
	struct guest_setup g = { .o = &o,
				 .nonce = "00ff",
				 .stdin_open = 1,
				 .tsc_khz = 2000000,
				 .vmm = vmm_find("qemu-microvm"),
				 .host_env = host_env };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " noreplace-smp") == NULL); /* a hypervisor: the kernel's choice */
	g.tcg = 1;
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " noreplace-smp") != NULL);
	CHECK(strstr(line, "console=ttyS0 reboot=t panic=-1 quiet") == line);
	CHECK(strstr(line, " tsc_early_khz=2000000") != NULL);
	CHECK(strstr(line, " pci=off") != NULL);
	CHECK(strstr(line, " wisp.nonce=00ff") != NULL);
	CHECK(strstr(line, " wisp.cmd=ZWNobwBoaQA=") != NULL); /* "echo\0hi\0" */
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
	g.vmm = vmm_find("qemu-q35");
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " pci=off") == NULL);

	static char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	const char *w2[] = { "--", big, NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w2), 0);
	g.o = &o;
	CHECK_INT(build_kcmdline(&g, line, err, sizeof(err)), -1);
	CHECK(strstr(err, "do not fit") != NULL);
}

/* --rootfs: the keys per the contract with wisp-init, and the device on
 * each machine (rootfs-contract.md). o.root is filled in as rootfs_check()
 * would. */
static void test_rootfs_keys_and_devices(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN], line[KCMDLINE_MAX];
	const char *w[] = {
		"--rootfs", "host", "--init", "/sbin/init", "--append", "last=1", NULL
	};
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w), 0);
	o.root.kind = ROOTFS_HOST;
	struct guest_setup g = { .o = &o, .nonce = "00", .vmm = vmm_find("qemu-microvm") };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line,
		     " wisp.root=9p,wisproot,ro,loose wisp.init=/sbin/init systemd.getty_auto=0 last=1") !=
	      NULL);

	struct vm_spec spec = {
		.o = &o, .kernel = "/k", .initrd = "/i", .cmdline = "quiet", .root = "/r/a,b/tree"
	};
	struct vm_fds fds = { .console = 10, .channel = -1, .vsock = -1, .qmp = -1 };
	struct vmm_launch l;
	const struct vmm *micro = vmm_find("qemu-microvm"), *q35 = vmm_find("qemu-q35");
	CHECK_INT(micro->launch(micro, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-fsdev",
		      "local,id=rootfs,path=/r/a,,b/tree,security_model=none,readonly=on,"
		      "multidevs=remap"));
	CHECK(has_arg(&l, "-device", "virtio-9p-device,fsdev=rootfs,mount_tag=wisproot"));
	vmm_launch_free(&l);
	CHECK_INT(q35->launch(q35, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-device", "virtio-9p-pci,fsdev=rootfs,mount_tag=wisproot"));
	vmm_launch_free(&l);

	const char *img[] = { "--rootfs", "/i.img:rw", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, img), 0);
	o.root.kind = ROOTFS_IMAGE;
	o.root.fstype = ROOTFS_FS_EXT4;
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " wisp.root=blk,vda,rw,ext4") != NULL);
	CHECK(strstr(line, "wisp.init") == NULL);
	spec.root = "/i.img";
	CHECK_INT(micro->launch(micro, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-drive", "file=/i.img,if=none,id=rootblk,format=raw"));
	CHECK(has_arg(&l, "-device", "virtio-blk-device,drive=rootblk"));
	vmm_launch_free(&l);
	const char *img_ro[] = { "--rootfs", "/i.img", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, img_ro), 0);
	o.root.kind = ROOTFS_IMAGE;
	o.root.fstype = ROOTFS_FS_SQUASHFS;
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " wisp.root=blk,vda,ro,squashfs") != NULL);
	CHECK_INT(q35->launch(q35, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-drive", "file=/i.img,if=none,id=rootblk,format=raw,readonly=on"));
	CHECK(has_arg(&l, "-device", "virtio-blk-pci,drive=rootblk"));
	vmm_launch_free(&l);

	/* No --rootfs: neither keys nor devices. */
	const char *plain[] = { "true", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, plain), 0);
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, "wisp.root") == NULL);
	spec.root = NULL;
	CHECK_INT(micro->launch(micro, &spec, &fds, &l), 0);
	for (int i = 0; i < l.argc; i++)
		CHECK(strstr(l.argv[i], "root") == NULL);
	vmm_launch_free(&l);
}

/* Serving: the command goes in the EXEC frame, not on the kernel line. */
static void test_exec_keys(void)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN], line[KCMDLINE_MAX];
	const char *exec[] = { "-u", "5:6", "-w", "/w", "--", "echo", "hi", NULL };
	CHECK_INT(parse_cmd(OPTS_EXEC, &o, exec), 0);
	struct guest_setup g = { .o = &o,
				 .nonce = "00",
				 .serve = 1,
				 .tty = 1,
				 .rows = 30,
				 .cols = 100,
				 .vmm = vmm_find("qemu-microvm"),
				 .term = "xterm-kitty" };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, " wisp.io=vsock") != NULL);
	CHECK(strstr(line, "wisp.cmd") == NULL && strstr(line, "wisp.user") == NULL);
	static char keys[65536];
	CHECK(build_exec_keys(&g, keys, sizeof(keys), err, sizeof(err)) > 0);
	CHECK(strstr(keys, " wisp.cmd=ZWNobwBoaQA=") != NULL);
	CHECK(strstr(keys, " wisp.user=5:6") != NULL);
	CHECK(strstr(keys, " wisp.cwd=L3cA") != NULL);
	CHECK(strstr(keys, " wisp.tty=30x100") != NULL);
	CHECK(strstr(keys, " wisp.env=VEVSTT14dGVybS1raXR0eQA=") != NULL); /* TERM=xterm-kitty */
	CHECK(strstr(keys, "wisp.nonce") == NULL);
	CHECK_INT(build_exec_keys(&g, keys, 10, err, sizeof(err)), -1);
}

/* --net user: the NIC's keys for wisp-init and slirp's netdev for QEMU,
 * with -p's hostfwd on the namespace's loopback; --net none has neither. */
static void test_net_keys_and_devices(void)
{
	struct run_opts o;
	char line[KCMDLINE_MAX], err[OPTIONS_ERR_LEN];
	const char *w[] = { "-p", "8080:80", "-p", "5353:53/udp", "--host-port", "40000", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, w), 0);
	struct guest_setup g = { .o = &o, .nonce = "00", .vmm = vmm_find("qemu-microvm") };
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line,
		     " wisp.net=10.0.2.15/24,10.0.2.2,10.0.3.3,65520 wisp.hostalias=10.0.2.2") !=
	      NULL);
	struct vm_spec spec = { .o = &o, .kernel = "/k", .initrd = "/i", .cmdline = "quiet" };
	struct vm_fds fds = { .console = 10, .channel = -1, .vsock = -1, .qmp = -1 };
	struct vmm_launch l;
	const struct vmm *micro = vmm_find("qemu-microvm"), *q35 = vmm_find("qemu-q35");
	CHECK_INT(micro->launch(micro, &spec, &fds, &l), 0);
	/* 40000 is a --host-port listener there: the hostfwd steps over it. */
	CHECK(has_arg(&l, "-netdev",
		      "user,id=net0,net=10.0.2.15/24,host=10.0.2.2,ipv6=off,"
		      "hostfwd=tcp:127.0.0.1:40001-:80,hostfwd=udp:127.0.0.1:40002-:53"));
	CHECK(has_arg(&l, "-device", "virtio-net-device,netdev=net0"));
	vmm_launch_free(&l);
	CHECK_INT(q35->launch(q35, &spec, &fds, &l), 0);
	CHECK(has_arg(&l, "-device", "virtio-net-pci,netdev=net0"));
	vmm_launch_free(&l);

	const char *none[] = { "--net", "none", NULL };
	CHECK_INT(parse_cmd(OPTS_RUN, &o, none), 0);
	CHECK(build_kcmdline(&g, line, err, sizeof(err)) > 0);
	CHECK(strstr(line, "wisp.net") == NULL && strstr(line, "wisp.hostalias") == NULL);
	CHECK_INT(micro->launch(micro, &spec, &fds, &l), 0);
	for (int i = 0; i < l.argc; i++)
		CHECK(strcmp(l.argv[i], "-netdev") != 0);
	vmm_launch_free(&l);
}

int main(void)
{
	test_rootfs_keys_and_devices();
	test_rtc_and_qmp_reach_qemu();
	test_devices_and_fds();
	test_9p_volumes();
	test_vmm_table();
	test_kcmdline();
	test_exec_keys();
	test_net_keys_and_devices();
	return check_summary("test_kcmdline");
}

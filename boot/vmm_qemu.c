/* QEMU's three x86 machines: microvm (virtio-mmio, no PCI, no firmware
 * detour: the PVH entry of vmlinux is jumped to directly), q35 and pc.
 * All three end when the guest resets (-no-reboot; the guest's reboot=t
 * triple-faults, which microvm without ACPI needs), have a 16550 UART and
 * take vhost-user devices backed by wisp's helpers over inherited fds. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcmdline.h"
#include "net_stack.h"
#include "vmm.h"

#define QEMU "qemu-system-x86_64"

/* The numbers QEMU's -chardev fd= options name. */
#define FD_CONSOLE 3
#define FD_CHANNEL 4
#define FD_VSOCK 5
#define FD_QMP 6
#define FD_SHARES 7 /* to FD_SHARES + OPTIONS_MAX_VOLUMES - 1 */

/* One argument, or an option and its value, appended to l's argv. */
static void arg(struct vmm_launch *l, const char *word);
static void opt(struct vmm_launch *l, const char *flag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void arg(struct vmm_launch *l, const char *word)
{
	if (l->argc < VMM_MAX_ARGS - 1 && (l->argv[l->argc] = strdup(word)))
		l->argv[++l->argc] = NULL;
}

static void opt(struct vmm_launch *l, const char *flag, const char *fmt, ...)
{
	if (l->argc >= VMM_MAX_ARGS - 2)
		return;
	arg(l, flag);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&l->argv[l->argc], fmt, ap) >= 0)
		l->argv[++l->argc] = NULL;
	va_end(ap);
}

static void pass_fd(struct vmm_launch *l, int from, int to)
{
	if (from >= 0 && l->nfds < VMM_MAX_FDS) {
		l->fds[l->nfds].from = from;
		l->fds[l->nfds].to = to;
		l->nfds++;
	}
}

/* QEMU option values escape a comma by doubling it. */
static const char *qemu_escape(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (; *in && n + 2 < size; in++) {
		out[n++] = *in;
		if (*in == ',')
			out[n++] = ',';
	}
	out[n] = '\0';
	return out;
}

/* How a 9p volume's files are kept on the host (README, "Ownership and
 * modes"). QEMU as root, passing the guest's owners and modes through,
 * would let the guest leave setuid-root files and device nodes there; by
 * default they live in user.virtfs.* xattrs instead, and the host's files
 * are QEMU's (root's) with the fixed modes below: no guest-chosen mode, no
 * device node reaches a host inode. As anyone else, QEMU has no power to
 * give: files are the invoking user's and guest chowns are ignored. */
static const char *security_model_9p(const struct volume *v, char *buf, size_t size)
{
	if (geteuid() != 0)
		snprintf(buf, size, "none");
	else if (v->passthrough)
		snprintf(buf, size, "passthrough");
	else
		snprintf(buf, size, "mapped-xattr,fmode=0600,dmode=0700");
	return buf;
}

static void add_volumes(const struct vmm *vmm, const struct run_opts *o, const struct vm_fds *fds,
			struct vmm_launch *l)
{
	const char *bus = vmm->has_pci ? "pci" : "device";
	for (size_t i = 0; i < o->nvolumes; i++) {
		const struct volume *v = &o->volumes[i];
		char path[2 * VOLUME_HOST_MAX], model[64];
		if (!strcmp(o->fs, "virtiofs")) {
			pass_fd(l, fds->shares[i], FD_SHARES + (int)i);
			opt(l, "-chardev", "socket,id=vfs%zu,fd=%zu", i, FD_SHARES + i);
			opt(l, "-device", "vhost-user-fs-%s,chardev=vfs%zu,tag=" VOLUME_TAG_FMT,
			    bus, i, i);
			continue;
		}
		opt(l, "-fsdev", "local,id=fs%zu,path=%s,security_model=%s%s", i,
		    qemu_escape(v->host, path, sizeof(path)),
		    security_model_9p(v, model, sizeof(model)), v->ro ? ",readonly=on" : "");
		opt(l, "-device", "virtio-9p-%s,fsdev=fs%zu,mount_tag=" VOLUME_TAG_FMT, bus, i, i);
	}
}

/* The guest's root (rootfs-contract.md): a read-only 9p share of the
 * staged tree, or the image as the only virtio-blk device, so it is vda.
 * The image's path is absolute (realpath), so no "proto:" prefix is read
 * into it. */
static void add_root(const struct vmm *vmm, const struct vm_spec *s, struct vmm_launch *l)
{
	const struct rootfs *r = &s->o->root;
	const char *bus = vmm->has_pci ? "pci" : "device";
	char path[2 * ROOTFS_PATH_MAX + 64];
	if (!s->root)
		return;
	qemu_escape(s->root, path, sizeof(path));
	if (rootfs_is_tree(r)) {
		/* multidevs=remap: the tree spans many filesystems, and inode
		 * numbers of two of them must not collide in the guest. */
		opt(l, "-fsdev",
		    "local,id=rootfs,path=%s,security_model=none,readonly=on,multidevs=remap",
		    path);
		opt(l, "-device", "virtio-9p-%s,fsdev=rootfs,mount_tag=" ROOTFS_TAG, bus);
	} else if (r->kind == ROOTFS_IMAGE) {
		opt(l, "-drive", "file=%s,if=none,id=rootblk,format=raw%s", path,
		    r->rw ? "" : ",readonly=on");
		opt(l, "-device", "virtio-blk-%s,drive=rootblk", bus);
	}
}

static int launch(const struct vmm *vmm, const struct vm_spec *s, const struct vm_fds *fds,
		  struct vmm_launch *l)
{
	const struct run_opts *o = s->o;
	int microvm = !vmm->has_pci;
	int kvm = !strcmp(o->accel, "kvm");
	l->argc = 0;
	l->nfds = 0;
	arg(l, QEMU);
	if (microvm)
		/* No option ROMs, no ACPI tables the guest would not read; devices
		 * reach the guest as virtio_mmio.device= on its command line. */
		opt(l, "-M", "microvm,accel=%s,x-option-roms=off,acpi=off,rtc=on", o->accel);
	else
		opt(l, "-M", "%s,accel=%s", vmm == &vmm_qemu_q35 ? "q35" : "pc", o->accel);
	opt(l, "-cpu", "%s", kvm ? "host" : "qemu64");
	opt(l, "-m", "%u", o->memory_mib);
	if ((!strcmp(o->fs, "virtiofs") && o->nvolumes) || s->vsock) {
		/* vhost-user backends map guest RAM: it must be a shared memfd. */
		opt(l, "-object", "memory-backend-memfd,id=mem,size=%uM,share=on", o->memory_mib);
		opt(l, "-machine", "memory-backend=mem");
	}
	opt(l, "-smp", "%u", o->cpus);
	/* Nothing but what is listed here: no NIC, no VGA, no user config. */
	arg(l, "-nodefaults");
	arg(l, "-no-user-config");
	opt(l, "-display", "none");
	/* The guest's reset ends QEMU: that is how a wisp VM powers off. */
	arg(l, "-no-reboot");
	if (o->rtc)
		opt(l, "-rtc", "base=%s", o->rtc);
	/* wisp listens for it: QEMU gets the socket, never the path. */
	if (fds->qmp >= 0) {
		pass_fd(l, fds->qmp, FD_QMP);
		opt(l, "-chardev", "socket,id=qmp,fd=%d,server=on,wait=off", FD_QMP);
		opt(l, "-mon", "chardev=qmp,mode=control");
	}
	opt(l, "-kernel", "%s", s->kernel);
	opt(l, "-initrd", "%s", s->initrd);
	opt(l, "-append", "%s", s->cmdline);
	pass_fd(l, fds->console, FD_CONSOLE);
	opt(l, "-chardev", "socket,id=con,fd=%d", FD_CONSOLE);
	opt(l, "-serial", "chardev:con");
	if (microvm)
		opt(l, "-global", "virtio-mmio.force-legacy=false");
	if (s->channel) {
		pass_fd(l, fds->channel, FD_CHANNEL);
		opt(l, "-device", "virtio-serial-%s,max_ports=2", microvm ? "device" : "pci");
		opt(l, "-chardev", "socket,id=io,fd=%d", FD_CHANNEL);
		opt(l, "-device", "virtserialport,chardev=io,name=wisp.io");
	}
	add_root(vmm, s, l);
	add_volumes(vmm, o, fds, l);
	if (s->vsock) {
		pass_fd(l, fds->vsock, FD_VSOCK);
		opt(l, "-chardev", "socket,id=vsock,fd=%d", FD_VSOCK);
		opt(l, "-device", "vhost-user-vsock-%s,chardev=vsock", microvm ? "device" : "pci");
	}
	/* --net user: virtio-net on slirp, in the namespace the VMM's child
	 * entered (net_stack.h). */
	if (!strcmp(o->net, "user")) {
		char netdev[NET_NETDEV_MAX];
		if (net_qemu_netdev(o, netdev, sizeof(netdev)) < 0)
			return -1;
		opt(l, "-netdev", "%s", netdev);
		opt(l, "-device", "virtio-net-%s,netdev=net0", microvm ? "device" : "pci");
	}
	return l->argc < VMM_MAX_ARGS - 1 ? 0 : -1;
}

/* microvm boots in 35 MiB with the virtio port (33 over vsock), one more
 * is the margin: the kernel (linked at 2 MiB, 13.5 MiB with the root
 * filesystems' code) and the unpacked initramfs leave Linux too little
 * below that ("System is deadlocked on memory"). q35 and pc need 36 too:
 * their firmware takes a share (35 MiB overwrote the kernel). */
const struct vmm vmm_qemu_microvm = {
	.name = "qemu-microvm",
	.console = "ttyS0",
	.reboot = "t",
	.has_pci = 0,
	.needs_vsockd = 1,
	.min_memory_mib = 36,
	.launch = launch,
};
const struct vmm vmm_qemu_q35 = {
	.name = "qemu-q35",
	.console = "ttyS0",
	.reboot = "t",
	.has_pci = 1,
	.needs_vsockd = 1,
	.min_memory_mib = 36,
	.launch = launch,
};
const struct vmm vmm_qemu_pc = {
	.name = "qemu-pc",
	.console = "ttyS0",
	.reboot = "t",
	.has_pci = 1,
	.needs_vsockd = 1,
	.min_memory_mib = 36,
	.launch = launch,
};

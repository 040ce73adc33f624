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
#include "vmm.h"

#define QEMU "qemu-system-x86_64"

/* The numbers QEMU's -chardev fd= options name. */
#define FD_CONSOLE 3
#define FD_CHANNEL 4
#define FD_VSOCK 5
#define FD_SHARES 6

__attribute__((format(printf, 2, 3)))
static void push(struct vmm_launch *l, const char *fmt, ...)
{
	if (l->argc >= VMM_MAX_ARGS - 1)
		return;
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

static void add_volumes(const struct vmm *vmm, const struct run_opts *o, const struct vm_fds *fds,
			struct vmm_launch *l)
{
	const char *bus = vmm->has_pci ? "pci" : "device";
	/* As root, passthrough keeps guest owners and modes on the host; as
	 * anyone else, files belong to the invoking user (security_model=none). */
	const char *model = geteuid() == 0 ? "passthrough" : "none";
	for (size_t i = 0; i < o->nvolumes; i++) {
		const struct volume *v = &o->volumes[i];
		char path[8192];
		if (!strcmp(o->fs, "virtiofs")) {
			pass_fd(l, fds->shares[i], FD_SHARES + (int)i);
			push(l, "-chardev"), push(l, "socket,id=vfs%zu,fd=%zu", i, FD_SHARES + i);
			push(l, "-device"), push(l, "vhost-user-fs-%s,chardev=vfs%zu,tag=" VOLUME_TAG_FMT,
						 bus, i, i);
			continue;
		}
		push(l, "-fsdev"), push(l, "local,id=fs%zu,path=%s,security_model=%s%s", i,
					qemu_escape(v->host, path, sizeof(path)), model,
					v->ro ? ",readonly=on" : "");
		push(l, "-device"), push(l, "virtio-9p-%s,fsdev=fs%zu,mount_tag=" VOLUME_TAG_FMT, bus, i, i);
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
	push(l, QEMU);
	if (microvm)
		/* No option ROMs, no ACPI tables the guest would not read; devices
		 * reach the guest as virtio_mmio.device= on its command line. */
		push(l, "-M"), push(l, "microvm,accel=%s,x-option-roms=off,acpi=off,rtc=on",
				     o->accel);
	else
		push(l, "-M"), push(l, "%s,accel=%s", vmm == &vmm_qemu_q35 ? "q35" : "pc", o->accel);
	push(l, "-cpu"), push(l, kvm ? "host" : "qemu64");
	push(l, "-m"), push(l, "%u", o->memory_mib);
	if ((!strcmp(o->fs, "virtiofs") && o->nvolumes) || s->vsock) {
		/* vhost-user backends map guest RAM: it must be a shared memfd. */
		push(l, "-object"), push(l, "memory-backend-memfd,id=mem,size=%uM,share=on", o->memory_mib);
		push(l, "-machine"), push(l, "memory-backend=mem");
	}
	push(l, "-smp"), push(l, "%u", o->cpus);
	/* Nothing but what is listed here: no NIC, no VGA, no user config. */
	push(l, "-nodefaults"), push(l, "-no-user-config"), push(l, "-display"), push(l, "none");
	/* The guest's reset ends QEMU: that is how a wisp VM powers off. */
	push(l, "-no-reboot");
	if (o->rtc)
		push(l, "-rtc"), push(l, "base=%s", o->rtc);
	if (o->qmp) {
		char path[256];
		push(l, "-qmp"), push(l, "unix:%s,server=on,wait=off", qemu_escape(o->qmp, path, sizeof(path)));
	}
	push(l, "-kernel"), push(l, "%s", s->kernel);
	push(l, "-initrd"), push(l, "%s", s->initrd);
	push(l, "-append"), push(l, "%s", s->cmdline);
	pass_fd(l, fds->console, FD_CONSOLE);
	push(l, "-chardev"), push(l, "socket,id=con,fd=%d", FD_CONSOLE);
	push(l, "-serial"), push(l, "chardev:con");
	if (microvm)
		push(l, "-global"), push(l, "virtio-mmio.force-legacy=false");
	if (s->channel) {
		pass_fd(l, fds->channel, FD_CHANNEL);
		push(l, "-device"), push(l, "virtio-serial-%s,max_ports=2", microvm ? "device" : "pci");
		push(l, "-chardev"), push(l, "socket,id=io,fd=%d", FD_CHANNEL);
		push(l, "-device"), push(l, "virtserialport,chardev=io,name=wisp.io");
	}
	add_volumes(vmm, o, fds, l);
	if (s->vsock) {
		pass_fd(l, fds->vsock, FD_VSOCK);
		push(l, "-chardev"), push(l, "socket,id=vsock,fd=%d", FD_VSOCK);
		push(l, "-device"), push(l, "vhost-user-vsock-%s,chardev=vsock", microvm ? "device" : "pci");
	}
	return l->argc < VMM_MAX_ARGS - 1 ? 0 : -1;
}

/* microvm boots in 32 MiB: the kernel is linked at 16 MiB and ends near
 * 30, and QEMU puts the initramfs at the top of RAM; below that the two
 * overlap. q35 and pc need 36: their firmware takes a share (35 MiB
 * overwrote the kernel). */
const struct vmm vmm_qemu_microvm = {
	.name = "qemu-microvm", .console = "ttyS0", .reboot = "t", .has_pci = 0,
	.needs_vsockd = 1, .min_memory_mib = 32, .launch = launch,
};
const struct vmm vmm_qemu_q35 = {
	.name = "qemu-q35", .console = "ttyS0", .reboot = "t", .has_pci = 1,
	.needs_vsockd = 1, .min_memory_mib = 36, .launch = launch,
};
const struct vmm vmm_qemu_pc = {
	.name = "qemu-pc", .console = "ttyS0", .reboot = "t", .has_pci = 1,
	.needs_vsockd = 1, .min_memory_mib = 36, .launch = launch,
};

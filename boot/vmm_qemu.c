/* QEMU's three x86 machines: microvm (virtio-mmio, no PCI, no firmware
 * detour: the PVH entry of vmlinux is jumped to directly), q35 and pc. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcmdline.h"
#include "vmm.h"

#define QEMU "qemu-system-x86_64"

__attribute__((format(printf, 2, 3)))
static void push(struct argv_list *a, const char *fmt, ...)
{
	if (a->n >= (int)(sizeof(a->v) / sizeof(a->v[0])) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&a->v[a->n], fmt, ap) >= 0)
		a->v[++a->n] = NULL;
	va_end(ap);
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

static void add_volumes(const struct vmm *vmm, const struct run_opts *o, struct argv_list *a)
{
	const char *bus = vmm->has_pci ? "pci" : "device";
	/* As root, passthrough keeps guest owners and modes on the host; as
	 * anyone else, files belong to the invoking user (security_model=none). */
	const char *model = geteuid() == 0 ? "passthrough" : "none";
	for (size_t i = 0; i < o->nvolumes; i++) {
		const struct volume *v = &o->volumes[i];
		char path[8192];
		if (!strcmp(o->fs, "virtiofs")) {
			push(a, "-chardev"), push(a, "socket,id=vfs%zu,fd=%zu", i, VMM_FD_SHARES + i);
			push(a, "-device"), push(a, "vhost-user-fs-%s,chardev=vfs%zu,tag=" VOLUME_TAG_FMT,
						 bus, i, i);
			continue;
		}
		push(a, "-fsdev"), push(a, "local,id=fs%zu,path=%s,security_model=%s%s", i,
					qemu_escape(v->host, path, sizeof(path)), model,
					v->ro ? ",readonly=on" : "");
		push(a, "-device"), push(a, "virtio-9p-%s,fsdev=fs%zu,mount_tag=" VOLUME_TAG_FMT, bus, i, i);
	}
}

static int build(const struct vmm *vmm, const struct vm_spec *s, struct argv_list *a)
{
	const struct run_opts *o = s->o;
	int microvm = !vmm->has_pci;
	int kvm = !strcmp(o->accel, "kvm");
	a->n = 0;
	push(a, QEMU);
	if (microvm)
		/* No option ROMs, no ACPI tables the guest would not read; devices
		 * reach the guest as virtio_mmio.device= on its command line. */
		push(a, "-M"), push(a, "microvm,accel=%s,x-option-roms=off,acpi=off,rtc=on",
				     o->accel);
	else
		push(a, "-M"), push(a, "%s,accel=%s", strcmp(vmm->name, "qemu-q35") ? "pc" : "q35",
				     o->accel);
	push(a, "-cpu"), push(a, kvm ? "host" : "qemu64");
	push(a, "-m"), push(a, "%u", o->memory_mib);
	if ((!strcmp(o->fs, "virtiofs") && o->nvolumes) || s->vsock) {
		/* vhost-user backends map guest RAM: it must be a shared memfd. */
		push(a, "-object"), push(a, "memory-backend-memfd,id=mem,size=%uM,share=on", o->memory_mib);
		push(a, "-machine"), push(a, "memory-backend=mem");
	}
	push(a, "-smp"), push(a, "%u", o->cpus);
	/* Nothing but what is listed here: no NIC, no VGA, no user config. */
	push(a, "-nodefaults"), push(a, "-no-user-config"), push(a, "-display"), push(a, "none");
	/* The guest's reset ends QEMU: that is how a wisp VM powers off. */
	push(a, "-no-reboot");
	if (o->rtc)
		push(a, "-rtc"), push(a, "base=%s", o->rtc);
	if (o->qmp) {
		char path[256];
		push(a, "-qmp"), push(a, "unix:%s,server=on,wait=off", qemu_escape(o->qmp, path, sizeof(path)));
	}
	push(a, "-kernel"), push(a, "%s", s->kernel);
	push(a, "-initrd"), push(a, "%s", s->initrd);
	push(a, "-append"), push(a, "%s", s->cmdline);
	push(a, "-chardev"), push(a, "socket,id=con,fd=%d", VMM_FD_CONSOLE);
	push(a, "-serial"), push(a, "chardev:con");
	if (microvm)
		push(a, "-global"), push(a, "virtio-mmio.force-legacy=false");
	if (s->channel) {
		push(a, "-device"), push(a, "virtio-serial-%s,max_ports=2", microvm ? "device" : "pci");
		push(a, "-chardev"), push(a, "socket,id=io,fd=%d", VMM_FD_CHANNEL);
		push(a, "-device"), push(a, "virtserialport,chardev=io,name=wisp.io");
	}
	add_volumes(vmm, o, a);
	if (s->vsock) {
		push(a, "-chardev"), push(a, "socket,id=vsock,fd=%d", VMM_FD_VSOCK);
		push(a, "-device"), push(a, "vhost-user-vsock-%s,chardev=vsock", microvm ? "device" : "pci");
	}
	return 0;
}

static const struct vmm vmms[] = {
	{ "qemu-microvm", 0, build },
	{ "qemu-q35", 1, build },
	{ "qemu-pc", 1, build },
};

const struct vmm *vmm_find(const char *name)
{
	for (size_t i = 0; i < sizeof(vmms) / sizeof(vmms[0]); i++)
		if (!strcmp(vmms[i].name, name))
			return &vmms[i];
	return NULL;
}

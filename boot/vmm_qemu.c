/* QEMU's three x86 machines: microvm (virtio-mmio, no PCI, no firmware
 * detour: the PVH entry of vmlinux is jumped to directly), q35 and pc. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	push(a, "-smp"), push(a, "%u", o->cpus);
	/* Nothing but what is listed here: no NIC, no VGA, no user config. */
	push(a, "-nodefaults"), push(a, "-no-user-config"), push(a, "-display"), push(a, "none");
	/* The guest's reset ends QEMU: that is how a wisp VM powers off. */
	push(a, "-no-reboot");
	push(a, "-kernel"), push(a, "%s", s->kernel);
	push(a, "-initrd"), push(a, "%s", s->initrd);
	push(a, "-append"), push(a, "%s", s->cmdline);
	push(a, "-chardev"), push(a, "socket,id=con,fd=%d", VMM_FD_CONSOLE);
	push(a, "-serial"), push(a, "chardev:con");
	if (microvm) {
		push(a, "-global"), push(a, "virtio-mmio.force-legacy=false");
		push(a, "-device"), push(a, "virtio-serial-device,max_ports=2");
	} else {
		push(a, "-device"), push(a, "virtio-serial-pci,max_ports=2");
	}
	push(a, "-chardev"), push(a, "socket,id=io,fd=%d", VMM_FD_CHANNEL);
	push(a, "-device"), push(a, "virtserialport,chardev=io,name=wisp.io");
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

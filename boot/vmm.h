/* One interface over the VMMs wisp can drive. Everything that differs from
 * one VMM to another lives behind it: the kernel arguments the guest needs
 * on that machine (its console, how a reset or power-off ends the VMM,
 * whether there is a PCI bus to probe), whether wisp must bring a vsock
 * backend, how the VMM's inherited fds are numbered, and the command line
 * with its device syntax. One file per VMM fills in one or more rows. */
#ifndef WISP_VMM_H
#define WISP_VMM_H

#include <stddef.h>

#include "options.h"

/* The fds wisp hands a VMM, by role; -1 where there is none. */
struct vm_fds {
	int console;                     /* the serial console: kernel log, exit marker */
	int channel;                     /* the virtio-serial port "wisp.io" (run --no-vsock) */
	int vsock;                       /* the vhost-user socket of wisp-vsockd */
	int shares[OPTIONS_MAX_VOLUMES]; /* one vhost-user socket per virtiofs volume */
	int qmp;                         /* a listening socket for --qmp (0600, wisp's) */
};

struct vm_spec {
	const struct run_opts *o;
	const char *kernel, *initrd, *cmdline;
	int channel; /* the virtio-serial port "wisp.io" */
	int vsock;   /* a vsock device */
	/* --rootfs: the staged tree to share (o->root a tree) or the image. */
	const char *root;
};

#define VMM_MAX_ARGS 128
#define VMM_MAX_FDS (5 + OPTIONS_MAX_VOLUMES)

/* What to run: argv for execvp(), and which fd goes to which number. */
struct vmm_launch {
	char *argv[VMM_MAX_ARGS];
	int argc;
	struct {
		int from, to;
	} fds[VMM_MAX_FDS];
	size_t nfds;
};

struct vmm {
	const char *name;
	/* The guest's kernel arguments for this machine: its console and the
	 * reboot= mode by which the guest's end ends the VMM. */
	const char *console, *reboot;
	int has_pci;             /* else the guest gets pci=off and skips the probe */
	int needs_vsockd;        /* wisp starts wisp-vsockd (else the VMM has its own) */
	unsigned min_memory_mib; /* the least guest RAM that boots on it */
	/* Fills l from s and the fds (-1 where none). 0, or -1 when the spec
	 * asks for what this VMM cannot do. */
	int (*launch)(const struct vmm *vmm, const struct vm_spec *s, const struct vm_fds *fds,
		      struct vmm_launch *l);
};

/* The row for name, or NULL. */
const struct vmm *vmm_find(const char *name);
/* "a|b|c": every name, for usage and error lines, into buf[size]. */
void vmm_names(char *buf, size_t size);

/* The rows, one per machine; vmm.c lists them. */
extern const struct vmm vmm_qemu_microvm, vmm_qemu_q35, vmm_qemu_pc;
/* Frees what launch() allocated. */
void vmm_launch_free(struct vmm_launch *l);

#endif

/* One interface over the VMMs wisp can drive: what differs between them is
 * how the command line is built and what the guest needs to know about the
 * machine. One file per VMM implements it. */
#ifndef WISP_VMM_H
#define WISP_VMM_H

#include "options.h"

/* The fds the VMM inherits, at these numbers in its process. */
#define VMM_FD_CONSOLE 3 /* the serial console: kernel log, exit marker */
#define VMM_FD_CHANNEL 4 /* the virtio-serial port "wisp.io" */
#define VMM_FD_VSOCK 5   /* the vhost-user socket of wisp-vsockd */
#define VMM_FD_SHARES 6  /* then one vhost-user socket per virtiofs volume */

struct vm_spec {
	const struct run_opts *o;
	const char *kernel, *initrd, *cmdline;
	int channel; /* the virtio-serial port "wisp.io" */
	int vsock;   /* the vhost-user vsock device (wisp-vsockd) */
};

struct argv_list {
	char *v[128];
	int n;
};

struct vmm {
	const char *name;
	int has_pci; /* else the guest gets pci=off and skips the probe */
	/* Fills argv for execvp(argv->v[0], argv->v). */
	int (*build_argv)(const struct vmm *vmm, const struct vm_spec *s, struct argv_list *argv);
};

const struct vmm *vmm_find(const char *name);

#endif

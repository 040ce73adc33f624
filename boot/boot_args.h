/* What a VM is booted with, for `run` and `start` alike: the kernel and
 * initramfs paths, and the guest's kernel command line with what the host
 * knows at launch (a fresh nonce, the TSC rate under TCG, the time). */
#ifndef WISP_BOOT_ARGS_H
#define WISP_BOOT_ARGS_H

#include "kcmdline.h"
#include "options.h"
#include "vmm.h"

struct boot_args {
	char kernel[4096], initrd[4096];
	char nonce[17];
	char cmdline[KCMDLINE_MAX];
};

/* serve: the agent takes commands (wisp.io=vsock); poweroff: the VM ends
 * with its command. The command's stdio is given for the port path, where
 * the command travels on the kernel command line. -1 with a message. */
int boot_args_build(struct boot_args *b, const struct run_opts *o, const struct vmm *vmm,
		    const char *self_dir, int serve, int stdin_open, int tty);

#endif

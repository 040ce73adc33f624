/* The guest kernel command line: the kernel's own flags for a fast, quiet
 * boot that ends the VMM on reset, and the wisp.* keys wisp-init reads. */
#ifndef WISP_KCMDLINE_H
#define WISP_KCMDLINE_H

#include <stddef.h>
#include <time.h>

#include "options.h"
#include "vmm.h"

/* The tag of the i-th volume, on both the VMM's and the guest's side. */
#define VOLUME_TAG_FMT "wisp%zu"

/* x86's COMMAND_LINE_SIZE, with its terminating NUL. */
#define KCMDLINE_MAX 2048

struct guest_setup {
	const struct run_opts *o;
	const char *nonce;   /* hex; tags the console exit marker */
	int stdin_open, tty; /* after defaults */
	unsigned short rows, cols;
	int tcg;               /* the guest runs under QEMU's TCG, not a hypervisor */
	unsigned long tsc_khz; /* 0: not given */
	const struct vmm *vmm; /* its console, reboot mode and buses; NULL for an EXEC */
	char *const *host_env; /* for -e K without a value */
	const char *term;      /* the host's $TERM, for the guest's with a tty; or NULL */
	int serve;             /* wisp.io=vsock: the agent takes the command */
	int poweroff;          /* the VM ends with the command (wisp run over vsock) */
	struct timespec now;   /* the host's CLOCK_REALTIME at launch; 0: not given */
};

/* Writes the command line into out (KCMDLINE_MAX bytes). Returns its length,
 * or -1 with a reason in err when it does not fit. */
int build_kcmdline(const struct guest_setup *g, char *out, char *err, size_t errlen);
/* Writes the keys of the command alone (cmd, env, cwd, user, tty, stdin,
 * poweroff), the payload of an EXEC frame, into out[size]. Returns the
 * length or -1. */
int build_exec_keys(const struct guest_setup *g, char *out, size_t size, char *err, size_t errlen);

#endif

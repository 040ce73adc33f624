/* What a VM boots with: kernel, initramfs, the guest's kernel command line. */
#include "boot_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "term.h"

extern char **environ;

static void make_nonce(char out[17])
{
	unsigned char b[8];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(b, &ts.tv_nsec,
		       sizeof(b) < sizeof(ts.tv_nsec) ? sizeof(b) : sizeof(ts.tv_nsec));
	}
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The host TSC frequency in kHz, which TCG guests see as theirs; with it
 * the guest skips a calibration against the PIT that can hang under TCG. */
static unsigned long host_tsc_khz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return 0;
	char line[256];
	double mhz = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	fclose(f);
	return (unsigned long)(mhz * 1000);
}

static int readable(const char *what, const char *path)
{
	if (access(path, R_OK) == 0)
		return 1;
	msg_warn("%s %s: %s", what, path, strerror(errno));
	return 0;
}

int boot_args_build(struct boot_args *b, const struct run_opts *o, const struct vmm *vmm,
		    const char *self_dir, int serve, int stdin_open, int tty)
{
	if (o->kernel)
		snprintf(b->kernel, sizeof(b->kernel), "%s", o->kernel);
	else
		snprintf(b->kernel, sizeof(b->kernel), "%s/vmlinux", self_dir);
	if (o->initrd)
		snprintf(b->initrd, sizeof(b->initrd), "%s", o->initrd);
	else
		snprintf(b->initrd, sizeof(b->initrd), "%s/initramfs.cpio.lz4", self_dir);
	if (!readable("kernel", b->kernel) || !readable("initrd", b->initrd))
		return -1;
	make_nonce(b->nonce);
	struct guest_setup g = { .o = o,
				 .nonce = b->nonce,
				 .stdin_open = stdin_open,
				 .tty = tty,
				 .rows = 24,
				 .cols = 80,
				 .vmm = vmm,
				 .host_env = environ,
				 .term = getenv("TERM"),
				 .serve = serve };
	g.tcg = !strcmp(o->accel, "tcg");
	if (g.tcg)
		g.tsc_khz = host_tsc_khz();
	if (clock_gettime(CLOCK_REALTIME, &g.now) < 0)
		g.now.tv_sec = 0; /* the guest falls back to its RTC */
	if (tty)
		term_size(STDIN_FILENO, &g.rows, &g.cols);
	char err[256];
	if (build_kcmdline(&g, b->cmdline, err, sizeof(err)) < 0) {
		msg_warn("%s", err);
		return -1;
	}
	return 0;
}

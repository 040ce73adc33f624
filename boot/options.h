/* `wisp run` options, parsed once into one struct by a pure function (no
 * I/O, no environment) that the unit tests call directly. */
#ifndef WISP_OPTIONS_H
#define WISP_OPTIONS_H

#include <stddef.h>

#define OPTIONS_MAX_ENV 256
#define OPTIONS_ERR_LEN 256
#define OPTIONS_MAX_VOLUMES 16

/* -v HOSTDIR:GUESTDIR[:ro|rw][,cache=MODE] */
struct volume {
	char *host, *guest; /* point into spec */
	int ro;
	const char *cache;  /* NULL: the default of the filesystem */
	char *spec;         /* a copy of the argument, split in place */
};

struct run_opts {
	const char *vmm;      /* "qemu-microvm" (default), "qemu-q35", "qemu-pc" */
	const char *accel;    /* "tcg" (default here) or "kvm" */
	const char *kernel;   /* NULL: next to the wisp binary */
	const char *initrd;
	unsigned memory_mib;
	unsigned cpus;
	const char *env[OPTIONS_MAX_ENV]; /* K=V, or K to copy the host's */
	size_t nenv;
	const char *workdir;
	const char *user;     /* UID[:GID] */
	int interactive, tty;
	int tty_given;        /* -t or -i was on the command line */
	double timeout;       /* seconds; 0: none */
	const char *append;   /* NULL, or append_buf: every --append, space-separated */
	char append_buf[2048];
	int verbose;
	int help;
	struct volume volumes[OPTIONS_MAX_VOLUMES];
	size_t nvolumes;
	const char *fs;       /* "9p" (default) or "virtiofs" */
	int trace;            /* print the boot trace after the command's output */
	const char *vsock;    /* hybrid vsock socket path, or NULL: no vsock device */
	unsigned cid;         /* the guest's vsock CID (default 3) */
	const char *trace_json;
	int no_vsock;         /* --no-vsock: stdio on the virtio port, no agent */
	const char *name;     /* wisp start --name */
	const char *rtc;      /* QEMU -rtc base=: utc, localtime or a date; NULL: QEMU's default */
	const char *qmp;      /* a QMP socket path for the VM, or NULL */
	char **argv;          /* the command; NULL or empty: a shell */
	int argc;
};

enum opts_cmd { OPTS_RUN, OPTS_START, OPTS_EXEC };

/* What the caller knows from outside the command line: the parser reads
 * no environment. */
struct opts_defaults {
	const char *accel;    /* $WISP_ACCEL; NULL or "": tcg */
};

/* Parses argv[0..argc) (the words after "run", "start" or "exec NAME"),
 * taking only the options that command has. d may be NULL. Returns 0, or
 * -1 with a one-line reason in err. */
int parse_options(enum opts_cmd cmd, const struct opts_defaults *d, int argc, char **argv,
		  struct run_opts *o, char *err, size_t errlen);
/* A VM name: 1-32 of [A-Za-z0-9._-], not starting with '.' or '-'. */
int vm_name_valid(const char *name);
/* The index of the first word of argv[1..] that is neither an option nor an
 * option's value, read as parse_options() reads them; -1 if "--" or the end
 * comes first. */
int options_first_operand(int argc, char **argv);
void free_run_options(struct run_opts *o);

extern const char run_usage[], start_usage[], exec_usage[];

#endif

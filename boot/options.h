/* The options of `wisp run`, `start` and `exec`: one table, one row per
 * option, that parses them into one struct (a pure function, no I/O and no
 * environment: the caller passes what it knows), checks them against each
 * other and writes the usage texts. */
#ifndef WISP_OPTIONS_H
#define WISP_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "rootfs.h"

#define OPTIONS_MAX_ENV 256
#define OPTIONS_ERR_LEN 256
#define OPTIONS_MAX_VOLUMES 16
/* How long `wisp start` waits for the guest to be ready by default. */
#define OPTIONS_START_TIMEOUT_S 60
/* A VM name is 1 to this many of [A-Za-z0-9._-]. */
#define VM_NAME_MAX 32

/* -v HOSTDIR:GUESTDIR[:OPTS], OPTS comma-separated: ro, rw, cache=MODE,
 * passthrough. In HOSTDIR and GUESTDIR, "\:" is a ':' and "\\" a '\'. */
struct volume {
	/* HOSTDIR, unescaped, in a buffer of VOLUME_HOST_MAX bytes of its own:
	 * volumes_check() replaces it with its realpath(), which is then all
	 * that QEMU and virtiofsd are given. */
	char *host;
	char *guest; /* points into spec */
	int ro;
	/* The guest's owners, modes, setuid bits and device nodes reach the
	 * host as they are (root only; README, "Ownership and modes"). */
	int passthrough;
	const char *cache; /* NULL: the default of the filesystem */
	char *spec;        /* a copy of the argument, split in place */
};
#define VOLUME_HOST_MAX 4096 /* PATH_MAX */

#define OPTIONS_MAX_PUBLISH 32
#define OPTIONS_MAX_HOST_PORTS 32

/* -p [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]: Docker's syntax and
 * default (127.0.0.1, tcp). */
struct publish {
	char host_ip[16]; /* dotted IPv4 */
	unsigned short host_port, guest_port;
	int udp;
};

struct run_opts {
	const char *vmm;    /* a name in the VMM table (boot/vmm.h) */
	const char *accel;  /* "tcg" or "kvm" */
	const char *kernel; /* NULL: next to the wisp binary */
	const char *initrd;
	unsigned memory_mib;
	unsigned cpus;
	const char *env[OPTIONS_MAX_ENV]; /* K=V, or K to copy the host's */
	size_t nenv;
	const char *workdir;
	const char *user; /* UID[:GID] */
	int interactive, tty;
	int tty_given;      /* -t or -i was on the command line */
	double timeout;     /* seconds; 0: none */
	const char *append; /* NULL, or append_buf: every --append, space-separated */
	char append_buf[2048];
	int verbose;
	int help;
	struct volume volumes[OPTIONS_MAX_VOLUMES];
	size_t nvolumes;
	const char *fs;    /* "9p" (default) or "virtiofs" */
	int trace;         /* print the boot trace after the command's output */
	const char *vsock; /* hybrid vsock socket path, or NULL: no vsock device */
	unsigned cid;      /* the guest's vsock CID (default 3) */
	const char *trace_json;
	int no_vsock;       /* --no-vsock: stdio on the virtio port, no agent */
	const char *name;   /* wisp start --name */
	const char *rtc;    /* QEMU -rtc base=: utc, localtime or a date; NULL: QEMU's default */
	const char *qmp;    /* a QMP socket path for the VM, or NULL */
	int port_forward;   /* 1 --port-forward, -1 --no-port-forward, 0: the command's
			     * default (on for start, off for run) */
	struct rootfs root; /* --rootfs: source and ":rw" here, the rest by rootfs_check() */
	const char *init;   /* --init PATH: the distro's init, in the root; or NULL */
	const char *net;    /* "user" or "none" */
	int net_given;      /* --net was on the command line (else -p implies user) */
	struct publish publish[OPTIONS_MAX_PUBLISH];
	size_t npublish;
	unsigned short host_ports[OPTIONS_MAX_HOST_PORTS]; /* --host-port: reachable as
							     * host.wisp.internal */
	size_t nhost_ports;
	char user_buf[32];      /* -u's default with --rootfs host */
	char workdir_buf[4096]; /* -w's default with --rootfs */
	char **argv;            /* the command; NULL or empty: a shell */
	int argc;
};

enum opts_cmd { OPTS_RUN, OPTS_START, OPTS_EXEC, OPTS_NCMDS };
/* A row's bit for each command that takes the option. */
#define OPTS_FOR(cmd) (1u << (cmd))

/* What the caller knows from outside the command line. */
/* Parses one -p value into *p: 0, or -1 with one line in err. Pure. */
int parse_publish(const char *v, struct publish *p, char *err, size_t errlen);

struct opts_defaults {
	const char *accel; /* $WISP_ACCEL; NULL or "": tcg */
};

/* One option. A row that takes a value has a metavar. */
struct opt_row {
	const char *name;    /* --name */
	char letter;         /* -l, or 0: none */
	const char *metavar; /* the value, as usage names it; NULL: a flag */
	/* The choices, "a|b|c", for usage in place of the metavar; or NULL. */
	void (*choices)(char *buf, size_t size);
	unsigned cmds;          /* OPTS_FOR() of each command that takes it */
	unsigned group;         /* the heading usage lists it under */
	unsigned long min, max; /* the value's limits, for the rows that have them */
	/* Stores value (NULL for a flag) into o. 0, or -1 with a line in err. */
	int (*parse)(const struct opt_row *r, const char *value, struct run_opts *o, char *err,
		     size_t errlen);
	/* What the option does: help[cmd] for cmd, or help[0] when that is NULL. */
	const char *help[OPTS_NCMDS];
	/* What cmd's usage adds in parentheses after the help, into buf: the
	 * default, limits that depend on other options; nothing: none. */
	void (*note)(enum opts_cmd cmd, char *buf, size_t size);
};

/* Every option; the last row's name is NULL. */
extern const struct opt_row options_table[];

/* "run", "start" or "exec". */
const char *options_cmd_name(enum opts_cmd cmd);
/* Parses argv[0..argc) (the words after "run", "start" or "exec NAME"),
 * taking only the options that command has, then checks them against each
 * other. d may be NULL. Returns 0, or -1 with a one-line reason in err. */
int parse_options(enum opts_cmd cmd, const struct opts_defaults *d, int argc, char **argv,
		  struct run_opts *o, char *err, size_t errlen);
/* The usage of cmd: its synopsis and every option it takes, from the table. */
void options_usage(enum opts_cmd cmd, FILE *f);
/* A VM name: 1 to VM_NAME_MAX of [A-Za-z0-9._-], not starting with '.' or '-'. */
int vm_name_valid(const char *name);
/* The index of the first word of argv[1..] that is neither an option nor an
 * option's value, read as parse_options() reads them; -1 if "--" or the end
 * comes first. */
int options_first_operand(int argc, char **argv);
void free_run_options(struct run_opts *o);

#endif

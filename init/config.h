/* wisp-init's configuration: every wisp.* key of the kernel command line,
 * parsed once into one struct with defaults. config_parse() does no I/O so
 * the unit tests and the fuzzer call it directly. */
#ifndef WISP_CONFIG_H
#define WISP_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#define CONFIG_MAX_WARNINGS 8
#define CONFIG_WARNING_LEN 160
#define CONFIG_MAX_ARGS 256
#define CONFIG_MAX_ENV 256
#define CONFIG_MAX_SHARES 16
/* The most of /proc/cmdline that is read. */
#define CONFIG_CMDLINE_MAX 65536
#define CONFIG_TIMESYNC_DEFAULT_S 60
#define CONFIG_TIMESYNC_MAX_S 86400

enum io_mode {
	IO_AUTO,    /* the virtio port when it exists, else the console */
	IO_VIRTIO,  /* framed stream on the virtio-serial port "wisp.io" */
	IO_CONSOLE, /* the command's stdio is the console; exit on a marker line */
	IO_VSOCK,   /* no command of PID 1's own: the agent runs what the host
		     * sends over vsock until the host asks for a shutdown */
};

enum share_fs { SHARE_9P, SHARE_VIRTIOFS };

enum root_kind { ROOT_NONE, ROOT_9P, ROOT_VIRTIOFS, ROOT_BLK };

/* A real root (wisp.root "KIND,SOURCE,ro|rw,OPT"): a 9p or virtiofs tag, or
 * a block device under /dev; OPT is the 9p cache mode or the block device's
 * filesystem. Read-only roots get an overlay on a tmpfs for the writes. */
struct root {
	enum root_kind kind;
	char *source;
	int ro;
	char *opt;
};

/* A host directory to mount: wisp.shares items "9p|virtiofs,TAG,ro|rw,CACHE,/path". */
struct share {
	enum share_fs fs;
	char *tag;
	char *path;
	char *cache; /* 9p: none, mmap, loose, fscache; virtiofs: ignored */
	int ro;
};

/* The NIC (wisp.net "ADDR/PREFIX,GATEWAY,DNS,MTU"), addresses in network
 * order; and the address the name host.wisp.internal stands for
 * (wisp.hostalias). */
struct net {
	int on;
	unsigned addr, gateway, dns;
	unsigned prefix; /* 1..32 */
	unsigned mtu;    /* 0: the driver's */
	int has_alias;
	unsigned alias;
};

struct config {
	char *argv[CONFIG_MAX_ARGS + 1]; /* the command; argv[0] == NULL: a shell */
	char *env[CONFIG_MAX_ENV + 1];   /* K=V set on top of the defaults */
	char *cwd;                       /* NULL: / */
	char *hostname;
	char *nonce;               /* tags the console exit marker */
	int tty;                   /* run the command on a pty */
	unsigned short rows, cols; /* its initial size */
	int stdin_open;            /* the host forwards stdin */
	int poweroff;              /* EXEC: end the VM once the host has the status */
	int has_user;
	int has_gid; /* else the gid of the user's passwd entry, or the uid */
	uid_t uid;
	gid_t gid;
	enum io_mode io;
	int debug;
	struct share shares[CONFIG_MAX_SHARES];
	size_t nshares;
	struct root root;
	char *init; /* wisp.init: the root's own init takes PID 1; NULL: none */
	struct net net;
	unsigned timesync_s; /* resync interval; 0: no resync, no exec check */
	unsigned timeport;   /* the host time service's vsock port */
	int has_now;         /* wisp.now: the host's clock at launch */
	long long now_ns;    /* ... in ns since the epoch */

	char *storage; /* every string above points in here */
	size_t nwarnings;
	char warnings[CONFIG_MAX_WARNINGS][CONFIG_WARNING_LEN];
};

/* Fills *c from the command line text (not NUL-terminated, n bytes).
 * Never fails: an unknown wisp.* key or a malformed value leaves the
 * default and adds a warning. Returns -1 only when out of memory. */
int config_parse(const char *cmdline, size_t n, struct config *c);
void config_free(struct config *c);

#endif

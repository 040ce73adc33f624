/* One VM's life on the host, from its runtime directory to the last file
 * removed: the helpers (a virtiofsd per virtiofs volume, wisp-vsockd), the
 * VMM process, its console and stderr, the ready socket and the guest's
 * ready notice, the deadline by which the VM must have ended, and one
 * teardown that undoes exactly what was set up. What it learns about the
 * end (console marker, panic, the VMM's error and status, a lost backend)
 * goes into the owner's struct outcome; the ready notice and the VMM's end
 * go to the owner's callbacks. */
#ifndef WISP_VM_H
#define WISP_VM_H

#include <limits.h>
#include <sys/types.h>

#include "../common/notice.h"
#include "console.h"
#include "hybrid.h"
#include "loop.h"
#include "net_stack.h"
#include "options.h"
#include "outcome.h"
#include "runtime.h"
#include "trace.h"
#include "vm_log.h"
#include "vmm.h"

/* A virtiofsd per volume, wisp-vsockd, --net user's keeper and slirp4netns. */
#define VM_MAX_HELPERS (OPTIONS_MAX_VOLUMES + 3)

struct vm;

struct vm_events {
	/* The guest agent listens: its notice, and the connection it left
	 * open for one request (fd >= 0, the owner's now) or -1. */
	void (*ready)(struct vm *vm, int conn, const struct notice *n);
};

struct vm_config {
	const struct run_opts *o;
	const struct vmm *vmm;
	const char *name; /* a named VM (wisp start), or NULL */
	const char *kernel, *initrd, *cmdline;
	const char *self_dir; /* where wisp-vsockd is */
	int channel;          /* the virtio-serial port for PID 1's stream */
	int agent;            /* a vsock device and a ready socket */
	int echo_console;     /* console and VMM lines go to stderr too */
	int log;              /* stderr (wisp's, the helpers') goes to <dir>/log */
	const char *nonce;    /* tags the console exit marker */
};

struct vm {
	struct loop *loop;
	const struct vm_config *c;
	const struct vm_events *ev;
	struct outcome *out;
	struct trace *trace;
	long long t0;
	/* The runtime directory and what is in it. */
	char dir[RUNTIME_PATH_MAX];
	int lock_fd;
	char vsock_path[RUNTIME_PATH_MAX + 16];
	/* A shared root's staging directory, and the tree in it QEMU exports. */
	char stage[PATH_MAX], root_export[PATH_MAX + 16];
	char ready_path[RUNTIME_PATH_MAX + 32];
	struct watch ready_listen, ready_conn;
	uint8_t notice[NOTICE_IN_MAX];
	size_t notice_len;
	int announced; /* one notice per boot */
	/* The notice, held until --net user's way out is up. */
	struct notice held_notice;
	int held_conn, holding;
	/* Processes: the helpers, then the VMM. */
	pid_t helpers[VM_MAX_HELPERS];
	int helper_stop_sig[VM_MAX_HELPERS];
	size_t nhelpers;
	pid_t vsockd; /* also among helpers; -1 once reaped */
	int share_fds[OPTIONS_MAX_VOLUMES], vsock_fd;
	struct net_stack net; /* --net user */
	int qmp_fd;           /* --qmp's listening socket, until the VMM has it */
	pid_t vmm_pid;        /* -1 once reaped */
	int channel_fd;       /* PID 1's stream, for the owner to take */
	struct watch con, err;
	struct watch helper_err; /* the helpers' stderr, with a log */
	struct line_splitter helper_lines;
	int helper_err_w; /* its write end, for helpers to inherit */
	struct vm_log log;
	struct line_splitter con_lines, err_lines;
	/* The deadline: the VM must have ended by then. */
	struct timer deadline;
	char deadline_why[OUTCOME_TEXT_MAX]; /* "" : say the guest did not power off */
	/* A SHUTDOWN request under way. */
	struct dial dial;
	struct watch shutdown_conn;
	int shutdown_sent;
	int answered; /* the owner has the command's status */
};

/* After the command's status, how long the VM gets to power off. */
#define VM_POWEROFF_WAIT_MS 5000

/* Sets up everything and starts the VMM. -1 with a message printed (what
 * was set up is undone by vm_teardown(), which must follow either way). */
int vm_start(struct vm *vm, struct loop *l, const struct vm_config *c, const struct vm_events *ev,
	     struct outcome *out, struct trace *t, long long t0);
/* A child exited: reaps the VMM and the helpers. */
void vm_reap(struct vm *vm);
/* Whether the VMM has ended. */
int vm_ended(const struct vm *vm);
/* Ends the VMM now. */
void vm_kill(struct vm *vm);
/* The VM must be gone within ms, else it is killed (why: what to record as
 * lost then, or NULL: "did not power off in time"). */
void vm_expect_end(struct vm *vm, long long ms, const char *why);
/* Asks the guest agent to power off in order, then expects the end within
 * ms. When the agent cannot be reached the deadline still applies. */
void vm_request_shutdown(struct vm *vm, long long ms);
/* The command is over: --net user's way out (slirp4netns) is ended now,
 * so that its slow exit (the kernel unregistering its tap device, 14-30
 * ms) overlaps the guest's power-off instead of following it. */
void vm_release_net(struct vm *vm);
/* Kills what still runs, reaps it and removes every file of the VM. */
void vm_teardown(struct vm *vm);

#endif

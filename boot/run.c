/* `wisp run`: one VM, one command. Over vsock (the default) the command
 * goes to the guest agent on the connection its ready notice left open,
 * and hanging up after EXIT tells the agent to power the VM off. With
 * --no-vsock PID 1 runs the command from the kernel command line and its
 * stream is the virtio port; the host answers EXIT with BYE. Either way the
 * VM must be gone within VM_POWEROFF_WAIT_MS of the status, or it is
 * killed: that bounds what a guest can do after EXIT (over vsock wisp has
 * hung up; on the port what follows is read and dropped). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/wire.h"
#include "boot_args.h"
#include "command.h"
#include "msg.h"
#include "port_forward.h"
#include "run.h"
#include "term.h"
#include "vm.h"

struct run {
	const struct run_opts *o;
	int over_port; /* --no-vsock: PID 1's stream on the virtio port */
	struct loop loop;
	struct vm vm;
	struct relay relay;
	struct command cmd;
	struct outcome out;
	struct trace trace;
	struct timer timeout;
	struct watch sig;
	struct dial dial;  /* to the agent, after a notice without HELLO */
	int trace_fd;      /* --trace-json's file */
	int trace_created; /* by this run */
	long long t0;
	struct port_forward fwd; /* --port-forward */
};

static void start_command(struct run *r, int fd)
{
	if (relay_attach(&r->relay, fd) < 0) {
		outcome_lost(&r->out, "cannot relay the guest's stream");
		vm_kill(&r->vm);
		return;
	}
	if (!r->over_port)
		relay_send_exec(&r->relay, r->cmd.keys, r->cmd.keys_len);
}

static void agent_dialled(struct dial *d, int fd, const char *err)
{
	struct run *r = container_of(d, struct run, dial);
	if (fd >= 0) {
		start_command(r, fd);
		return;
	}
	char why[DIAL_ERR_MAX + 40];
	snprintf(why, sizeof(why), "cannot reach the guest agent: %s", err);
	outcome_lost(&r->out, why);
	vm_kill(&r->vm);
}

static void on_ready(struct vm *vm, int conn, const struct notice *n)
{
	struct run *r = container_of(vm, struct run, vm);
	if (n->status >= 0 || r->out.host_signal) {
		/* The guest could not set up (it said why), or the user gave
		 * up: no command, and the VM ends in order. */
		close_fd(&conn);
		if (n->status >= 0) {
			r->out.guest_status = n->status;
			r->vm.answered = 1;
			timer_stop(&r->timeout);
		}
		vm_request_shutdown(vm, VM_POWEROFF_WAIT_MS);
		return;
	}
	if (conn < 0) {
		/* A guest that offers no request on the notice's connection. */
		if (dial_start(&r->dial, &r->loop, vm->vsock_path, WIRE_AGENT_PORT, DIAL_AGENT_MS,
			       agent_dialled) < 0) {
			outcome_lost(&r->out, "cannot reach the guest agent");
			vm_kill(vm);
		}
		return;
	}
	/* Its HELLO ended the notice. */
	r->relay.hello = 1;
	r->trace.hello = clock_us() - r->t0;
	start_command(r, conn);
}

static void on_exited(struct relay *rl, int status)
{
	struct run *r = container_of(rl, struct run, relay);
	r->out.guest_status = status;
	r->vm.answered = 1;
	timer_stop(&r->timeout); /* the command ended in time, whatever follows */
	if (r->over_port)
		relay_send_bye(rl);
	else
		relay_close(rl); /* wisp.poweroff: the hang-up ends the VM */
	vm_expect_end(&r->vm, VM_POWEROFF_WAIT_MS, NULL);
	vm_release_net(&r->vm);
}

static void on_lost(struct relay *rl, int broken, const char *why)
{
	struct run *r = container_of(rl, struct run, relay);
	/* PID 1's port ends with the VM, which tells why itself. */
	if (r->over_port && !broken)
		return;
	/* The command's fate is unknown, and a VM of ours is of no more use. */
	outcome_lost(&r->out, why);
	vm_kill(&r->vm);
}

static const struct relay_events relay_events = { on_exited, on_lost };
static const struct vm_events vm_events = { on_ready };

static void on_timeout(struct timer *t)
{
	struct run *r = container_of(t, struct run, timeout);
	r->out.timed_out = 1;
	relay_close(&r->relay);
	relay_abandon_output(&r->relay);
	vm_kill(&r->vm);
}

static void on_signal(struct watch *w, uint32_t events)
{
	(void)events;
	struct run *r = container_of(w, struct run, sig);
	for (int sig; (sig = signals_next(w->fd));) {
		if (sig == SIGCHLD) {
			vm_reap(&r->vm);
		} else if (sig == SIGWINCH) {
			command_winsize(&r->cmd, &r->relay);
		} else if (command_signal(&r->cmd, &r->relay, sig) < 0) {
			/* A second one, or one before the command started: and the
			 * user no longer waits for output that has not gone out. */
			vm_kill(&r->vm);
			relay_abandon_output(&r->relay);
			if (r->out.guest_status < 0 && !r->out.host_signal)
				r->out.host_signal = sig;
		}
	}
}

static int setup(struct run *r, const struct run_opts *o)
{
	int fd;
	if (loop_init(&r->loop) < 0 || (fd = signals_open()) < 0 ||
	    loop_add(&r->loop, &r->sig, fd, EPOLLIN, on_signal) < 0 ||
	    timer_init(&r->loop, &r->timeout, on_timeout) < 0 ||
	    relay_init(&r->relay, &r->loop, &relay_events, &r->trace, r->t0) < 0) {
		msg_warn("setup: %s", strerror(errno));
		return -1;
	}
	if (o->timeout > 0)
		timer_arm_ms(&r->timeout, (long long)(o->timeout * 1000));
	return 0;
}

/* Until the VMM has ended and everything it left is read. */
static void loop(struct run *r)
{
	for (;;) {
		int busy = relay_pump(&r->relay);
		/* Once the VMM is gone, what it left is read without waiting;
		 * then only the user's slow stdout (or a signal) is waited for. */
		int drained = vm_ended(&r->vm);
		int n = loop_run_once(&r->loop, (busy || drained) ? 0 : -1);
		if (n == 0 && drained && relay_output_pending(&r->relay))
			n = loop_run_once(&r->loop, -1);
		if (n < 0) {
			msg_warn("epoll_wait: %s", strerror(errno));
			break;
		}
		if (n == 0 && drained && !relay_output_pending(&r->relay))
			break;
	}
}

/* --trace-json's file, opened before the guest runs: a symlink there is
 * refused, and one the guest plants later (the file may be in a volume)
 * changes nothing, since the run writes through this fd. A file this run
 * created is removed again when there is no trace to write. */
static int open_trace_json(struct run *r, const char *path)
{
	r->trace_created = 1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		r->trace_created = 0;
		fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		msg_warn("--trace-json %s: %s", path,
			 errno == ELOOP ? "is a symbolic link" : strerror(errno));
	r->trace_fd = fd;
	return fd;
}

static void write_trace_json(struct run *r, int status)
{
	struct stat st;
	FILE *f = NULL;
	/* A FIFO or a terminal takes the text as it is; a file is replaced. */
	if (fstat(r->trace_fd, &st) == 0 &&
	    (!S_ISREG(st.st_mode) || ftruncate(r->trace_fd, 0) == 0) &&
	    (f = fdopen(r->trace_fd, "w")))
		r->trace_fd = -1; /* the FILE has it now */
	if (!f || (trace_write_json(&r->trace, status, f), fclose(f)) != 0)
		msg_warn("--trace-json %s: %s", r->o->trace_json, strerror(errno));
}

/* No trace to write: a file this run created goes, if it is still ours. */
static void drop_trace_json(struct run *r)
{
	struct stat ours, there;
	if (r->trace_fd >= 0 && r->trace_created && fstat(r->trace_fd, &ours) == 0 &&
	    lstat(r->o->trace_json, &there) == 0 && ours.st_ino == there.st_ino &&
	    ours.st_dev == there.st_dev)
		unlink(r->o->trace_json);
	close_fd(&r->trace_fd);
}

static int finish(struct run *r)
{
	term_restore();
	char why[OUTCOME_TEXT_MAX + 64];
	int status = outcome_status(&r->out, why, sizeof(why));
	if (r->out.guest_status >= 0 || r->out.host_signal) {
		if (r->o->trace)
			trace_print(&r->trace, stderr);
		if (r->trace_fd >= 0)
			write_trace_json(r, status);
	}
	drop_trace_json(r);
	if (why[0])
		msg_warn("%s", why);
	return status;
}

/* --port-forward's messages, among wisp's own on stderr. */
static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	dprintf(msg_fd(), "%s\n", line);
}

int run_vm(const struct run_opts *o, const char *self_dir)
{
	struct run r;
	memset(&r, 0, sizeof(r));
	r.o = o;
	r.over_port = o->no_vsock;
	r.trace_fd = -1;
	r.t0 = clock_us();
	outcome_init(&r.out, OUTCOME_RUN);
	/* PID 1's port is there from the start: there is no notice to wait for. */
	r.out.ready = r.over_port;
	const struct vmm *vmm = vmm_find(o->vmm);
	struct boot_args b;
	if (!vmm || command_prepare(&r.cmd, o, !r.over_port) < 0 ||
	    boot_args_build(&b, o, vmm, self_dir, !r.over_port, r.cmd.stdin_open, r.cmd.tty) < 0 ||
	    setup(&r, o) < 0 || (o->trace_json && open_trace_json(&r, o->trace_json) < 0))
		return EXIT_LAUNCHER;
	struct vm_config c = { .o = o,
			       .vmm = vmm,
			       .kernel = b.kernel,
			       .initrd = b.initrd,
			       .cmdline = b.cmdline,
			       .self_dir = self_dir,
			       .channel = r.over_port,
			       .agent = !r.over_port,
			       .echo_console = o->verbose,
			       .nonce = b.nonce };
	if (vm_start(&r.vm, &r.loop, &c, &vm_events, &r.out, &r.trace, r.t0) < 0) {
		vm_teardown(&r.vm);
		return EXIT_LAUNCHER;
	}
	if (o->port_forward > 0 && !r.over_port &&
	    port_forward_start(&r.fwd, &r.loop, r.vm.vsock_path, r.vm.dir, log_line, NULL) < 0)
		msg_warn("port forwarding: %s", strerror(errno));
	if (r.over_port) {
		start_command(&r, r.vm.channel_fd);
		r.vm.channel_fd = -1;
	}
	command_open_stdin(&r.cmd, &r.relay);
	loop(&r);
	dial_cancel(&r.dial);
	port_forward_stop(&r.fwd);
	vm_teardown(&r.vm);
	relay_free(&r.relay);
	return finish(&r);
}

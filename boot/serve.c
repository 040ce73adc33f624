/* The background process of `wisp start`: boots a named VM whose agent
 * takes `wisp exec`s, tells the waiting `start` when the guest is ready
 * (or why it is not), and keeps the VM until `wisp stop` (SIGTERM) asks
 * the guest to power off in order. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "boot_args.h"
#include "command.h"
#include "msg.h"
#include "port_forward.h"
#include "run.h"
#include "vm.h"

/* A `wisp stop` gives the guest this long to end in order. */
#define STOP_WAIT_MS 15000

struct serve {
	const struct run_opts *o;
	struct loop loop;
	struct vm vm;
	struct outcome out;
	struct trace trace;
	struct watch sig;
	struct port_forward fwd; /* the guest's listening ports on the host's 127.0.0.1 */
};

static void write_state(const struct serve *s, int ready)
{
	const struct run_opts *o = s->o;
	struct vm_state st = { .pid = getpid(),
			       .pid_start = runtime_pid_start(getpid()),
			       .started = time(NULL),
			       .ready = ready,
			       .memory_mib = o->memory_mib,
			       .cpus = o->cpus };
	snprintf(st.vmm, sizeof(st.vmm), "%s", o->vmm);
	if (runtime_write_state(s->vm.dir, &st) < 0)
		msg_warn("state file in %s: %s", s->vm.dir, strerror(errno));
}

/* From now on there is no one waiting to tell: messages go to the log. */
static void stop_reporting(int ok)
{
	int fd = msg_fd();
	msg_set_fd(STDERR_FILENO);
	/* One NUL byte tells the waiting `start` it worked. */
	if (ok && write(fd, "", 1) != 1)
		msg_warn("cannot tell wisp start: %s", strerror(errno));
	if (fd != STDERR_FILENO)
		close(fd);
}

static void on_ready(struct vm *vm, int conn, const struct notice *n)
{
	struct serve *s = container_of(vm, struct serve, vm);
	close_fd(&conn); /* the agent's process for it goes away quietly */
	if (n->status >= 0) {
		/* Not ready after all (a share failed): `start` fails, having
		 * read why; the VM ends in order. */
		s->out.guest_status = n->status;
		s->out.ready = 0;
		stop_reporting(0);
		vm_request_shutdown(vm, VM_POWEROFF_WAIT_MS);
		return;
	}
	write_state(s, 1);
	stop_reporting(1);
}

static const struct vm_events vm_events = { on_ready };

/* The forwarder's messages: into the VM's log, whoever is waiting. */
static void log_line(void *ctx, const char *line)
{
	vm_log_line(ctx, line);
}

static void on_signal(struct watch *w, uint32_t events)
{
	(void)events;
	struct serve *s = container_of(w, struct serve, sig);
	for (int sig; (sig = signals_next(w->fd));) {
		if (sig == SIGCHLD)
			vm_reap(&s->vm);
		else if (sig == SIGWINCH)
			continue;
		/* `wisp stop`: an orderly shutdown; a second signal, or one
		 * before the guest is ready, ends the VM at once. */
		else if (s->out.ready && !s->vm.shutdown_sent)
			vm_request_shutdown(&s->vm, STOP_WAIT_MS);
		else
			vm_kill(&s->vm);
	}
}

int serve_vm(const struct run_opts *o, const char *self_dir)
{
	struct serve s;
	memset(&s, 0, sizeof(s));
	s.o = o;
	outcome_init(&s.out, OUTCOME_SERVE);
	const struct vmm *vmm = vmm_find(o->vmm);
	struct boot_args b;
	int fd;
	if (!vmm || boot_args_build(&b, o, vmm, self_dir, 1, 0, 0) < 0)
		return EXIT_LAUNCHER;
	if (loop_init(&s.loop) < 0 || (fd = signals_open()) < 0 ||
	    loop_add(&s.loop, &s.sig, fd, EPOLLIN, on_signal) < 0) {
		msg_warn("setup: %s", strerror(errno));
		return EXIT_LAUNCHER;
	}
	struct vm_config c = { .o = o,
			       .vmm = vmm,
			       .name = o->name,
			       .kernel = b.kernel,
			       .initrd = b.initrd,
			       .cmdline = b.cmdline,
			       .self_dir = self_dir,
			       .agent = 1,
			       .echo_console = 1,
			       .log = 1,
			       .nonce = b.nonce };
	int started = vm_start(&s.vm, &s.loop, &c, &vm_events, &s.out, &s.trace, clock_us()) == 0;
	if (started)
		write_state(&s, 0);
	/* Listening before the guest can have booted, so its forwarder
	 * finds the host there. */
	if (started && o->port_forward >= 0 &&
	    port_forward_start(&s.fwd, &s.loop, s.vm.vsock_path, s.vm.dir, log_line, &s.vm.log) < 0)
		msg_warn("port forwarding: %s", strerror(errno));
	while (started && !vm_ended(&s.vm)) {
		if (loop_run_once(&s.loop, -1) < 0) {
			msg_warn("epoll_wait: %s", strerror(errno));
			break;
		}
	}
	/* What the console still holds. */
	while (started && loop_run_once(&s.loop, 0) > 0)
		;
	port_forward_stop(&s.fwd);
	vm_teardown(&s.vm);
	char why[OUTCOME_TEXT_MAX + 64];
	int status = started ? outcome_status(&s.out, why, sizeof(why)) : EXIT_LAUNCHER;
	if (started && why[0])
		msg_warn("%s", why);
	return status;
}

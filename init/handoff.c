#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mounts.h"
#include "rootfs.h"
#include "supervise.h"

#define READY_FILE "/run/wisp/ready"
/* systemd's own test that it runs the system: sd_booted(3). */
#define SYSTEMD_DIR "/run/systemd/system"
/* systemd is built against glibc, whose SIGRTMIN is 34 (musl's is 35):
 * its "reboot" signal, SIGRTMIN+5, is 39 whatever libc we are. */
#define SYSTEMD_SIGNAL_REBOOT 39
/* How long the distro's init gets to stop its services and reset. */
#define POWEROFF_GRACE_MS 20000
#define POLL_MS 10

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
		  NULL);
}

/* PID 1 after the fork: the distro's init, with the signals, fds and
 * environment a kernel would give it. */
static _Noreturn void become_init(const struct config *c)
{
	signals_reset();
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		for (int i = 0; i < 3; i++)
			dup2(fd, i);
		if (fd > 2)
			close(fd);
	}
	syscall(SYS_close_range, 3, ~0U, 0);
	char *argv[] = { c->init, NULL };
	char *envp[] = { "HOME=/", "TERM=linux", NULL };
	execve(c->init, argv, envp);
	log_open();
	log_warn("exec %s: %s: wisp-init stays PID 1", c->init, strerror(errno));
	/* PID 1 must never exit: reap orphans until the child ends the VM. */
	for (;;)
		if (waitpid(-1, NULL, 0) < 0)
			sleep_ms(1000);
}

void handoff(const struct config *c, char *argv0)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("fork: %s: %s does not start", strerror(errno), c->init);
		return;
	}
	if (pid > 0)
		become_init(c);
	/* Orphans of the command are ours to reap, as they were PID 1's. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (argv0 && argv0[0])
		argv0[0] = '@';
	if (mkdir("/run/wisp", 0755) < 0 && errno != EEXIST)
		log_warn("mkdir /run/wisp: %s", strerror(errno));
}

int handoff_active(const struct config *c)
{
	return c->init && getpid() != 1;
}

/* systemctl is-system-running --wait: 1 once it names a state (running,
 * degraded, ...: the boot is over), 0 when it could not ask (systemd's
 * socket is not up yet), -1 when there is no systemctl. */
static int ask_systemd(void)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		log_warn("pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (pid == 0) {
		signals_reset();
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (dup2(out[1], STDOUT_FILENO) < 0 || (null >= 0 && dup2(null, STDERR_FILENO) < 0))
			_exit(126);
		char *argv[] = { "systemctl", "is-system-running", "--wait", NULL };
		char *envp[] = { "PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL };
		execve("/usr/bin/systemctl", argv, envp);
		execve("/bin/systemctl", argv, envp);
		_exit(127);
	}
	close(out[1]);
	char state[64];
	ssize_t n;
	while ((n = read(out[0], state, sizeof(state))) < 0 && errno == EINTR)
		;
	close(out[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		log_warn("systemd runs but there is no systemctl to ask whether it is ready");
		return -1;
	}
	return n > 0;
}

void handoff_wait_ready(void)
{
	for (;;) {
		if (access(READY_FILE, F_OK) == 0)
			return;
		if (access(SYSTEMD_DIR, F_OK) == 0 && ask_systemd() != 0)
			return;
		sleep_ms(POLL_MS);
	}
}

void handoff_power_off(void)
{
	sync();
	int sig = access(SYSTEMD_DIR, F_OK) == 0 ? SYSTEMD_SIGNAL_REBOOT : SIGTERM;
	if (kill(1, sig) < 0)
		log_warn("kill(1, %d): %s", sig, strerror(errno));
	for (int waited = 0; waited < POWEROFF_GRACE_MS; waited += POLL_MS * 10)
		sleep_ms(POLL_MS * 10);
	log_warn("the distro's init did not end the VM: resetting it");
	sync();
	unmount_all();
	rootfs_seal();
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

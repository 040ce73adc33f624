/* QEMU's virtiofsd for one virtiofs volume (virtiofsd.h). */
#include "virtiofsd.h"

#include "../common/unix_sock.h"
#include "child.h"
#include "msg.h"
#include "volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* virtiofsd reads its listening socket from this fd. */
#define VIRTIOFSD_FD 3

static int listen_and_connect(int *listener, int *client)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char dir[256], path[300];
	snprintf(dir, sizeof(dir), "%s/wisp-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/fs.sock", dir);
	struct sockaddr_un sa;
	int ok = unix_addr(path, &sa) == 0 && (*listener = unix_listen(path, 1, 0)) >= 0 &&
		 (*client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
		 connect(*client, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	int saved = errno;
	/* Connected: the path has done its job. */
	unlink(path);
	rmdir(dir);
	errno = saved;
	return ok ? 0 : -1;
}

/* virtiofsd's -o values are split at commas, and its parser reads "\," as
 * a comma and "\\" as a backslash: the path stays one value, whatever its
 * name. */
static void fuse_opt_escape(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (; *in && n + 2 < size; in++) {
		if (*in == ',' || *in == '\\')
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n] = '\0';
}

/* --- the default confinement: seccomp on virtiofsd (README, "Ownership
 * and modes") ---
 *
 * Run as root, virtiofsd creates files as the guest's uid and gid, chowns
 * and chmods them as the guest asks: the guest could leave setuid-root
 * programs, device nodes and files of any host user in the share. This
 * filter, installed before exec and kept by virtiofsd (filters stack: its
 * own comes on top), lets none of that reach a host inode:
 *   - changes of identity do nothing and report success: virtiofsd stays
 *     the invoking user, so every file it creates is that user's;
 *   - chown does nothing and reports success (as on 9p without root);
 *   - a chmod to setuid, setgid or world-writable fails with EPERM;
 *   - creating a file with setuid or setgid bits, or a block or character
 *     device, fails with EPERM; the umask, set here and then fixed (umask()
 *     does nothing), takes write for others from anything created;
 *   - xattrs cannot be set or removed (virtiofsd serves none anyway), nor
 *     files opened by the calls whose arguments a filter cannot read.
 * virtiofsd's own capabilities to make device nodes, keep setuid bits on
 * write and set file capabilities are dropped too (-o modcaps). */

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#endif
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

#define NO_CHMOD (S_ISUID | S_ISGID | S_IWOTH)
#define NO_CREATE_MODE (S_ISUID | S_ISGID)
/* The flags with which open() and openat() create a file. */
#define CREATE_FLAGS (O_CREAT | 020000000 /* __O_TMPFILE */)
#define RET(action) BPF_STMT(BPF_RET | BPF_K, (action))
#define DENY(err) RET(SECCOMP_RET_ERRNO | (err))
#define ALLOW RET(SECCOMP_RET_ALLOW)
/* The low 32 bits of argument n (little-endian). */
#define LOAD_ARG(n) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[n]))

struct filter {
	struct sock_filter insn[256];
	size_t n;
	int overflow;
};

static void emit(struct filter *f, const struct sock_filter *code, size_t len)
{
	if (f->n + len > sizeof(f->insn) / sizeof(f->insn[0])) {
		f->overflow = 1;
		return;
	}
	memcpy(f->insn + f->n, code, len * sizeof(*code));
	f->n += len;
}

/* A block that runs when the syscall number is nr (the accumulator holds
 * it) and ends in a return; any other number jumps over it. */
static void when(struct filter *f, long nr, const struct sock_filter *block, size_t len)
{
	struct sock_filter test = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)nr, 0, (__u8)len);
	emit(f, &test, 1);
	emit(f, block, len);
}

/* nr returns err (0: success) without doing anything. */
static void always(struct filter *f, long nr, unsigned err)
{
	struct sock_filter block[] = { DENY(err) };
	when(f, nr, block, 1);
}

/* nr fails with EPERM when its mode argument has any of the bits. */
static void mode_without(struct filter *f, long nr, int mode_arg, unsigned bits)
{
	struct sock_filter block[] = {
		LOAD_ARG(mode_arg),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bits, 0, 1),
		DENY(EPERM),
		ALLOW,
	};
	when(f, nr, block, sizeof(block) / sizeof(block[0]));
}

/* open() and openat(): as mode_without(), when the flags create a file. */
static void create_without(struct filter *f, long nr, int flags_arg, int mode_arg, unsigned bits)
{
	struct sock_filter block[] = {
		LOAD_ARG(flags_arg), BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CREATE_FLAGS, 0, 3),
		LOAD_ARG(mode_arg),  BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bits, 0, 1),
		DENY(EPERM),         ALLOW,
	};
	when(f, nr, block, sizeof(block) / sizeof(block[0]));
}

/* mknod() and mknodat(): no device node, no setuid or setgid bit. */
static void node_without_devices(struct filter *f, long nr, int mode_arg)
{
	struct sock_filter block[] = {
		LOAD_ARG(mode_arg),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NO_CREATE_MODE, 3, 0),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, S_IFMT),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_IFCHR, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_IFBLK, 0, 1),
		DENY(EPERM),
		ALLOW,
	};
	when(f, nr, block, sizeof(block) / sizeof(block[0]));
}

/* Installs the filter on this process, for virtiofsd after exec. 0, or -1
 * with errno. */
static int confine(void)
{
#ifndef FILTER_ARCH
	errno = ENOSYS; /* no filter for this architecture: no default volume */
	return -1;
#else
	struct filter f = { .n = 0 };
	struct sock_filter head[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
		RET(SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
		/* The x32 ABI's numbers: not virtiofsd's. */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		DENY(ENOSYS),
#endif
	};
	emit(&f, head, sizeof(head) / sizeof(head[0]));
	static const long ids[] = { __NR_setuid,    __NR_setgid,    __NR_setreuid, __NR_setregid,
				    __NR_setresuid, __NR_setresgid, __NR_setfsuid, __NR_setfsgid };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		always(&f, ids[i], 0);
	static const long chowns[] = {
#ifdef __NR_chown
		__NR_chown, __NR_lchown,
#endif
		__NR_fchown, __NR_fchownat
	};
	for (size_t i = 0; i < sizeof(chowns) / sizeof(chowns[0]); i++)
		always(&f, chowns[i], 0);
	/* virtiofsd clears its umask; the one set below stays. */
	always(&f, __NR_umask, 0);
#ifdef __NR_chmod
	mode_without(&f, __NR_chmod, 1, NO_CHMOD);
#endif
	mode_without(&f, __NR_fchmod, 1, NO_CHMOD);
	mode_without(&f, __NR_fchmodat, 2, NO_CHMOD);
	mode_without(&f, __NR_fchmodat2, 2, NO_CHMOD);
#ifdef __NR_open
	create_without(&f, __NR_open, 1, 2, NO_CREATE_MODE);
	mode_without(&f, __NR_creat, 1, NO_CREATE_MODE);
	node_without_devices(&f, __NR_mknod, 1);
#endif
	create_without(&f, __NR_openat, 2, 3, NO_CREATE_MODE);
	node_without_devices(&f, __NR_mknodat, 2);
	static const long refused[] = { __NR_setxattr,    __NR_lsetxattr,    __NR_fsetxattr,
					__NR_removexattr, __NR_lremovexattr, __NR_fremovexattr };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		always(&f, refused[i], EPERM);
	/* Their arguments are out of a filter's reach. */
	always(&f, __NR_openat2, ENOSYS);
	always(&f, __NR_io_uring_setup, ENOSYS);
	struct sock_filter tail[] = { ALLOW };
	emit(&f, tail, 1);
	if (f.overflow) {
		errno = E2BIG;
		return -1;
	}
	struct sock_fprog prog = { .len = (unsigned short)f.n, .filter = f.insn };
	/* No file creation mask of the guest's can add write for others. */
	umask(S_IWOTH);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
#endif
}

/* --- :ro: virtiofsd has no read-only mode --- */

/* In a mount namespace of the child's own, dir becomes a read-only bind
 * mount of itself (submounts too), which virtiofsd serves: the guest's
 * writes fail on the host whatever it remounts. Root only (volumes_check()
 * refuses it otherwise). 0, or -1 with errno. */
static int read_only_view(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					       MOUNT_ATTR_NODEV };
	if (mount_setattr(AT_FDCWD, dir, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
		return 0;
	/* Before Linux 5.12: the top mount only. */
	return mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		     NULL);
}

/* What the child failed at before exec, for the parent to say. */
enum { STAGE_READ_ONLY, STAGE_EXEC, STAGE_SECCOMP };
struct child_error {
	int stage;
	int err;
};

static _Noreturn void child_fail(int report, int stage)
{
	struct child_error e = { stage, errno };
	ssize_t w = write(report, &e, sizeof(e));
	(void)w;
	_exit(127);
}

int virtiofsd_start(const struct volume *v, int verbose, int err_fd, pid_t *pid)
{
	int listener = -1, client = -1, report[2] = { -1, -1 };
	const char *dir = v->host, *cache = v->cache;
	if (listen_and_connect(&listener, &client) < 0) {
		msg_warn("virtiofs socket: %s", strerror(errno));
		goto fail;
	}
	const char *bin = getenv("WISP_VIRTIOFSD");
	if (!bin || !*bin)
		bin = VIRTIOFSD_DEFAULT;
	if (access(bin, X_OK) < 0) {
		msg_warn("%s: %s (install qemu-system-common)", bin, strerror(errno));
		goto fail;
	}
	char source[2 * VOLUME_HOST_MAX + 8], cache_opt[64], fd_opt[32];
	memcpy(source, "source=", 8);
	fuse_opt_escape(dir, source + 7, sizeof(source) - 7);
	snprintf(cache_opt, sizeof(cache_opt), "cache=%s", cache ? cache : "auto");
	snprintf(fd_opt, sizeof(fd_opt), "--fd=%d", VIRTIOFSD_FD);
	const char *modcaps = v->passthrough ? NULL : "modcaps=-mknod:-fsetid:-setfcap";
	if (pipe2(report, O_CLOEXEC) < 0) {
		msg_warn("pipe: %s", strerror(errno));
		goto fail;
	}
	pid_t parent = getpid();
	*pid = fork();
	if (*pid < 0) {
		msg_warn("fork: %s", strerror(errno));
		goto fail;
	}
	if (*pid == 0) {
		int null = child_prepare(parent, SIGKILL);
		if (v->ro && read_only_view(dir) < 0)
			child_fail(report[1], STAGE_READ_ONLY);
		if (!v->passthrough && confine() < 0)
			child_fail(report[1], STAGE_SECCOMP);
		/* It reports the VMM's disconnect as an error: noise, unless asked. */
		int err = verbose ? err_fd : null;
		if ((err >= 0 && dup2(err, STDERR_FILENO) < 0) || dup2(listener, VIRTIOFSD_FD) < 0)
			child_fail(report[1], STAGE_EXEC);
		const char *argv[] = { bin,  fd_opt,          "-o", source,  "-o", cache_opt,
				       "-o", "log_level=err", "-o", modcaps, NULL };
		if (!modcaps)
			argv[8] = NULL; /* the list ends before its -o */
		execv(bin, (char *const *)argv);
		child_fail(report[1], STAGE_EXEC);
	}
	close(listener);
	listener = -1;
	close(report[1]);
	report[1] = -1;
	/* Nothing to read: the exec happened. */
	struct child_error e;
	ssize_t n;
	while ((n = read(report[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (n == (ssize_t)sizeof(e)) {
		const char *const stages[] = { "read-only mount", bin, "seccomp filter" };
		msg_warn("virtiofs %s: %s: %s", dir, stages[e.stage], strerror(e.err));
		waitpid(*pid, NULL, 0); /* it has exited */
		close(client);
		return -1;
	}
	return client;
fail:
	if (listener >= 0)
		close(listener);
	if (client >= 0)
		close(client);
	for (int i = 0; i < 2; i++)
		if (report[i] >= 0)
			close(report[i]);
	return -1;
}

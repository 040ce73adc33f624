/* Where wisp keeps the VMs it runs: one private directory per VM under a
 * private root ($WISP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/wisp, else
 * /tmp/wisp-UID), mode 0700 and owned by the user, with the VM's sockets
 * (0600), its state file and, for `wisp start`, its log. A VM is alive
 * while the process that supervises it holds the lock on its directory;
 * a directory whose lock nobody holds is a leftover and is removed. */
#ifndef WISP_RUNTIME_H
#define WISP_RUNTIME_H

#include <stddef.h>
#include <sys/types.h>

#define RUNTIME_PATH_MAX 108 /* sun_path: every socket path must fit */

struct vm_state {
	pid_t pid;           /* the supervising wisp process */
	long long pid_start; /* its start time (clock ticks after boot): which process pid is */
	long long started;   /* unix seconds */
	int ready;           /* the guest agent listens */
	char vmm[32];
	unsigned memory_mib, cpus;
};

/* The root, created if needed and checked to be private. 0, or -1 with err. */
int runtime_root(char *out, size_t size, char *err, size_t errlen);
/* root/name for a named VM (it need not exist). */
int runtime_vm_dir(const char *name, char *out, size_t size, char *err, size_t errlen);
/* Creates dir (0700), or a fresh root/run-XXXXXX when name is NULL, takes its
 * lock and returns the lock fd; -1 with err (EEXIST: a live VM has it). */
int runtime_claim(const char *name, char *dir, size_t size, char *err, size_t errlen);
/* 1 if a live process holds dir's lock, else 0. */
int runtime_alive(const char *dir);
/* Removes dir and the files in it (the caller's own directory). */
void runtime_remove(const char *dir);
/* Removes dir if it is a leftover, under its lock, so that a VM that takes
 * the name meanwhile never loses its files: 0 removed (or gone), -1 alive. */
int runtime_reap(const char *dir);
/* The start time of process pid (field 22 of /proc/PID/stat), or -1. */
long long runtime_pid_start(pid_t pid);
int runtime_write_state(const char *dir, const struct vm_state *s);
int runtime_read_state(const char *dir, struct vm_state *s);
/* Calls fn for each live named VM; reaps leftovers on the way. */
void runtime_each_vm(void (*fn)(const char *name, const char *dir, void *ctx), void *ctx);

#endif

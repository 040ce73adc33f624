/* The guest's kernel command line and the EXEC keys (kcmdline.h). */
#include "kcmdline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/base64.h"
#include "net_stack.h"

struct text {
	char *buf;
	size_t len, cap;
	int overflow;
};

static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->overflow = 1;
	else
		t->len += (size_t)n;
}

/* Adds " wisp.KEY=<base64 of the NUL-terminated items>". */
static void add_list(struct text *t, const char *key, const char *const *items, size_t n)
{
	size_t raw = 0;
	for (size_t i = 0; i < n; i++)
		raw += strlen(items[i]) + 1;
	unsigned char *joined = malloc(raw ? raw : 1);
	char *enc = malloc(base64_encoded_size(raw));
	if (!joined || !enc) {
		t->overflow = 1;
		goto out;
	}
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(items[i]) + 1;
		memcpy(joined + at, items[i], len);
		at += len;
	}
	base64_encode(joined, raw, enc);
	add(t, " wisp.%s=%s", key, enc);
out:
	free(joined);
	free(enc);
}

/* -e K takes the host's value of K; unset on the host, it is left out. */
static const char *env_item(const char *item, char *const *host_env)
{
	if (strchr(item, '='))
		return item;
	size_t klen = strlen(item);
	for (char *const *e = host_env; e && *e; e++)
		if (!strncmp(*e, item, klen) && (*e)[klen] == '=')
			return *e;
	return NULL;
}

/* The keys that describe the command: on the kernel command line for the
 * virtio and console paths, in the EXEC frame for the agent. */
static void add_command_keys(struct text *t, const struct guest_setup *g)
{
	const struct run_opts *o = g->o;
	if (o->argc > 0)
		add_list(t, "cmd", (const char *const *)o->argv, (size_t)o->argc);
	const char *env[OPTIONS_MAX_ENV + 1];
	size_t nenv = 0;
	char term_buf[128];
	if (g->tty) {
		/* Like docker -t: the guest's terminal type is the host's. */
		if (g->term && *g->term) {
			snprintf(term_buf, sizeof(term_buf), "TERM=%s", g->term);
			env[nenv++] = term_buf;
		}
	}
	for (size_t i = 0; i < o->nenv; i++) {
		const char *item = env_item(o->env[i], g->host_env);
		if (item)
			env[nenv++] = item;
	}
	if (nenv)
		add_list(t, "env", env, nenv);
	if (o->workdir)
		add_list(t, "cwd", &o->workdir, 1);
	if (o->user)
		add(t, " wisp.user=%s", o->user);
	if (g->tty)
		add(t, " wisp.tty=%ux%u", g->rows, g->cols);
	if (g->stdin_open)
		add(t, " wisp.stdin=1");
}

/* The root per the contract with wisp-init (rootfs.h): KIND,SOURCE,MODE,OPT. */
static void add_root_keys(struct text *t, const struct run_opts *o)
{
	const struct rootfs *r = &o->root;
	if (rootfs_is_tree(r))
		add(t, " wisp.root=9p," ROOTFS_TAG ",ro," ROOTFS_9P_CACHE);
	else if (r->kind == ROOTFS_IMAGE)
		add(t, " wisp.root=blk,vda,%s,%s", r->rw ? "rw" : "ro",
		    rootfs_fstype_name(r->fstype));
	else
		return;
	/* The console is wisp's log, not a login: a getty on it would make
	 * systemd wait for the serial device, which a root without udev never
	 * announces (90 s, then "degraded"). Other inits ignore the key. */
	if (o->init)
		add(t, " wisp.init=%s systemd.getty_auto=0", o->init);
}

int build_exec_keys(const struct guest_setup *g, char *out, size_t size, char *err, size_t errlen)
{
	struct text t = { .buf = out, .cap = size };
	out[0] = '\0';
	add_command_keys(&t, g);
	if (g->poweroff)
		add(&t, " wisp.poweroff=1");
	if (t.overflow) {
		snprintf(err, errlen, "the command and its environment exceed %zu bytes", size - 1);
		return -1;
	}
	return (int)t.len;
}

int build_kcmdline(const struct guest_setup *g, char *out, char *err, size_t errlen)
{
	const struct run_opts *o = g->o;
	struct text t = { .buf = out, .cap = KCMDLINE_MAX };
	out[0] = '\0';

	/* The kernel: log on the VMM's console (the launcher reads it, the user
	 * sees it only with --verbose), the end that ends this VMM, no waiting
	 * on panic. */
	add(&t, "console=%s reboot=%s panic=-1 %s", g->vmm->console, g->vmm->reboot,
	    o->verbose ? "loglevel=7" : "quiet");
	/* The initramfs unpacked before the drivers probe, not beside them:
	 * its compressed copy is freed before their buffers are taken, which
	 * is what lets 32 MiB boot every time. One vCPU gains nothing from
	 * the overlap, and the bench measured no cost. */
	add(&t, " initramfs_async=0");
	/* Under TCG: the host's TSC rate instead of a calibration against the
	 * PIT that can hang; no local APIC timer, whose calibration spins for
	 * about 200 ms of emulated time (the PIT drives the tick instead); and
	 * no check that the timer IRQ works, 4 jiffies of waiting. */
	if (g->tsc_khz)
		add(&t, " tsc_early_khz=%lu tsc=reliable nolapic_timer no_timer_check", g->tsc_khz);
	/* With a single CPU the kernel rewrites every LOCK prefix in its
	 * text to a plain one; under TCG each patched code page costs a
	 * translation flush, 35 ms in all (bench/ab.py). A lone vCPU does not
	 * miss the saving: TCG runs a locked op as cheaply as a plain one. */
	if (g->tcg)
		add(&t, " noreplace-smp");
	if (!g->vmm->has_pci)
		add(&t, " pci=off");

	/* Over vsock the agent gets the command in its EXEC frame. */
	add(&t, " wisp.nonce=%s wisp.io=%s", g->nonce, g->serve ? "vsock" : "virtio");
	/* The guest's clock of last resort (docs/time.md). */
	if (g->now.tv_sec > 0)
		add(&t, " wisp.now=%lld.%09ld", (long long)g->now.tv_sec, g->now.tv_nsec);
	if (!g->serve)
		add_command_keys(&t, g);
	if (o->nvolumes) {
		char items[OPTIONS_MAX_VOLUMES][4200];
		const char *list[OPTIONS_MAX_VOLUMES];
		for (size_t i = 0; i < o->nvolumes; i++) {
			const struct volume *v = &o->volumes[i];
			const char *cache = v->cache              ? v->cache
					    : strcmp(o->fs, "9p") ? "auto"
								  : "mmap";
			snprintf(items[i], sizeof(items[i]), "%s," VOLUME_TAG_FMT ",%s,%s,%s",
				 o->fs, i, v->ro ? "ro" : "rw", cache, v->guest);
			list[i] = items[i];
		}
		add_list(&t, "shares", list, o->nvolumes);
	}
	add_root_keys(&t, o);
	/* --net user: the NIC's fixed numbers; the gateway is also the host's
	 * name (net_stack.h). */
	if (!strcmp(o->net, "user"))
		add(&t,
		    " wisp.net=" NET_GUEST_ADDR "/%d," NET_GATEWAY "," NET_DNS
		    ",%d wisp.hostalias=" NET_GATEWAY,
		    NET_PREFIX, NET_MTU);
	/* The user's own arguments last, so that they win. */
	if (o->append && *o->append)
		add(&t, " %s", o->append);

	if (t.overflow) {
		snprintf(err, errlen,
			 "the command, environment and --append do not fit the guest's "
			 "%d-byte kernel command line",
			 KCMDLINE_MAX - 1);
		return -1;
	}
	return (int)t.len;
}

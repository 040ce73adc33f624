/* The options of `wisp run`, `start` and `exec` as one table: a row per
 * option says its names, which commands take it, how its value is parsed
 * and within which limits, and what it does. getopt's tables and the usage
 * texts are made from it; check_options() then checks the options against
 * each other. */
#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_text.h"
#include "vmm.h"

#define DEFAULT_MEMORY_MIB 128
#define DEFAULT_CPUS 1
#define DEFAULT_CID 3
#define DEFAULT_ACCEL "tcg"
#define DEFAULT_FS "9p"
/* none until the NIC's boot cost is measured against its target (README). */
#define DEFAULT_NET "none"
/* The least guest RAM that boots on any machine: the kernel (13.5 MiB with
 * the root filesystems' code) and the unpacked initramfs leave Linux too
 * little below it, and it panics out of memory. A machine whose firmware
 * takes a share needs more: its row in the VMM table says how much. */
#define MIN_MEMORY_MIB 36
#define MAX_MEMORY_MIB (1024 * 1024)
#define MAX_CPUS 64
#define MIN_CID 3           /* 0-2 are the hypervisor's, the local and the host's */
#define MAX_ID 0xfffffffeUL /* a UID, GID or CID: (uint32_t)-1 means "any" or "none" */
#define MAX_TIMEOUT_S (365UL * 24 * 3600)
/* A Unix socket path, with room under sun_path's 108 bytes for what QEMU
 * and wisp-vsockd add to it. */
#define MAX_SOCKET_PATH 100

/* The headings of the usage, in order. */
enum { G_COMMAND, G_MACHINE, G_SHARES, G_SOCKETS, G_OUTPUT, NGROUPS };
static const char *const group_titles[NGROUPS] = {
	[G_COMMAND] = "The command:",     [G_MACHINE] = "The machine:",
	[G_SHARES] = "Host directories:", [G_SOCKETS] = "Sockets:",
	[G_OUTPUT] = "Time and output:",
};

static const char *const cmd_names[OPTS_NCMDS] = { "run", "start", "exec" };

static const char *const accels[] = { "tcg", "kvm", NULL };

/* Each filesystem a volume may be shared by, with its cache modes. */
static const char *const fs_names[] = { "9p", "virtiofs", NULL };
static const char *const net_names[] = { "user", "none", NULL };
static const char *const caches_9p[] = { "none", "mmap", "loose", "fscache", NULL };
static const char *const caches_virtiofs[] = { "auto", "always", "none", NULL };
static const char *const *const fs_caches[] = { caches_9p, caches_virtiofs };

/* "a|b|c" as a message says it: "a, b or c". */
static void spell(const char *alternatives, char *buf, size_t size)
{
	const char *last = strrchr(alternatives, '|');
	buf[0] = '\0';
	for (const char *p = alternatives; *p;) {
		size_t len = strcspn(p, "|"), at = strlen(buf);
		const char *sep = p == alternatives ? "" : p - 1 == last ? " or " : ", ";
		snprintf(buf + at, size - at, "%s%.*s", sep, (int)len, p);
		p += p[len] ? len + 1 : len;
	}
}

/* A line that fmt begins and "want a, b or c" ends, from "a|b|c". */
static int fail_choice(char *err, size_t errlen, const char *alternatives, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_choice(char *err, size_t errlen, const char *alternatives, const char *fmt, ...)
{
	char spelled[160];
	spell(alternatives, spelled, sizeof(spelled));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	size_t n = strlen(err);
	snprintf(err + n, errlen - n, ": want %s", spelled);
	return -1;
}

/* The index of s in the NULL-terminated list, or -1. */
static int find(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return i;
	return -1;
}

/* "a|b|c" from a NULL-terminated list, for usage. */
static void join(const char *const *list, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; list[i]; i++) {
		size_t at = strlen(buf);
		snprintf(buf + at, size - at, "%s%s", i ? "|" : "", list[i]);
	}
}

static void accel_choices(char *buf, size_t size)
{
	join(accels, buf, size);
}

static void fs_choices(char *buf, size_t size)
{
	join(fs_names, buf, size);
}

static void net_choices(char *buf, size_t size)
{
	join(net_names, buf, size);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* A whole number within the row's limits; unit prefixes the range. */
static int row_uint(const struct opt_row *r, const char *v, const char *unit, unsigned *out,
		    char *err, size_t errlen)
{
	if (parse_uint(v, r->min, r->max, out))
		return err_fail(err, errlen, "invalid --%s '%s': want %s%lu to %lu", r->name, v,
				unit, r->min, r->max);
	return 0;
}

/* A socket path within the row's limits. */
static int row_socket(const struct opt_row *r, const char *v, const char **out, char *err,
		      size_t errlen)
{
	size_t n = strlen(v);
	if (n < r->min || n > r->max)
		return err_fail(err, errlen,
				"invalid --%s '%s': want a socket path of %lu to %lu bytes",
				r->name, v, r->min, r->max);
	*out = v;
	return 0;
}

static int valid_user(const char *s)
{
	unsigned id;
	const char *colon = strchr(s, ':');
	char uid[16];
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	if (n == 0 || n >= sizeof(uid))
		return 0;
	memcpy(uid, s, n);
	uid[n] = '\0';
	if (parse_uint(uid, 0, MAX_ID, &id))
		return 0;
	return !colon || parse_uint(colon + 1, 0, MAX_ID, &id) == 0;
}

/* utc, localtime, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS: what QEMU's -rtc
 * base= takes, and nothing that could smuggle in another option. */
static int valid_rtc(const char *v)
{
	static const char date[] = "dddd-dd-dd", datetime[] = "dddd-dd-ddTdd:dd:dd";
	const char *shape = strlen(v) == strlen(date) ? date : datetime;
	if (!strcmp(v, "utc") || !strcmp(v, "localtime"))
		return 1;
	if (strlen(v) != strlen(shape))
		return 0;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? v[i] < '0' || v[i] > '9' : v[i] != shape[i])
			return 0;
	return 1;
}

/* "/a//b/" -> "/a/b": so that duplicates are found however they are spelled. */
static void normalize_path(char *p)
{
	char *out = p;
	for (char *in = p; *in; in++)
		if (!(*in == '/' && out > p && out[-1] == '/'))
			*out++ = *in;
	while (out > p + 1 && out[-1] == '/')
		out--;
	*out = '\0';
}

/* The field of a volume spec that starts at s, unescaped in place ("\:" is
 * ':', "\\" is '\'), up to the first unescaped ':' or the end. *next is
 * where the next field starts, or NULL at the end. -1: a '\' that escapes
 * nothing else. */
static int volume_field(char *s, char **next)
{
	char *out = s;
	*next = NULL;
	for (; *s; s++) {
		if (*s == ':') {
			*next = s + 1;
			break;
		}
		if (*s == '\\' && s[1] != ':' && s[1] != '\\')
			return -1;
		if (*s == '\\')
			s++;
		*out++ = *s;
	}
	*out = '\0';
	return 0;
}

static int parse_volume(struct run_opts *o, const char *arg, char *err, size_t errlen)
{
	if (o->nvolumes == OPTIONS_MAX_VOLUMES)
		return err_fail(err, errlen, "too many volumes (max %d)", OPTIONS_MAX_VOLUMES);
	struct volume *v = &o->volumes[o->nvolumes];
	memset(v, 0, sizeof(*v));
	v->spec = strdup(arg);
	v->host = calloc(1, VOLUME_HOST_MAX);
	o->nvolumes++;
	if (!v->spec || !v->host)
		return err_fail(err, errlen, "out of memory");
	char *guest, *opts = NULL;
	if (volume_field(v->spec, &guest) < 0 || (guest && volume_field(guest, &opts) < 0))
		return err_fail(err, errlen,
				"invalid --volume '%s': a '\\' must be followed by ':' or '\\'",
				arg);
	if (!guest || !v->spec[0])
		return err_fail(err, errlen, "invalid --volume '%s': want HOSTDIR:GUESTDIR[:ro]",
				arg);
	if (strlen(v->spec) >= VOLUME_HOST_MAX)
		return err_fail(err, errlen, "invalid --volume '%s': HOSTDIR is too long", arg);
	if (guest[0] != '/' || guest[1] == '\0')
		return err_fail(err, errlen,
				"invalid --volume '%s': GUESTDIR must be absolute, not /", arg);
	strcpy(v->host, v->spec);
	v->guest = guest;
	normalize_path(v->guest);
	for (char *opt = opts ? strtok(opts, ",") : NULL; opt; opt = strtok(NULL, ",")) {
		if (!strcmp(opt, "ro"))
			v->ro = 1;
		else if (!strcmp(opt, "rw"))
			v->ro = 0;
		else if (!strcmp(opt, "passthrough"))
			v->passthrough = 1;
		else if (!strncmp(opt, "cache=", 6) && opt[6])
			v->cache = opt + 6;
		else
			return err_fail(err, errlen,
					"invalid --volume option '%s': want ro, rw, passthrough or "
					"cache=MODE",
					opt);
	}
	for (size_t i = 0; i + 1 < o->nvolumes; i++)
		if (!strcmp(o->volumes[i].guest, v->guest))
			return err_fail(err, errlen, "two volumes share the guest path %s",
					v->guest);
	return 0;
}

/* The value parsers, one per option, in the order of the table: each
 * stores v (NULL for a flag) into o, or says in err what it wanted. Not
 * every one needs every argument. */
#define UNUSED __attribute__((unused))
#define PARSER(fn)                                                                              \
	static int fn(UNUSED const struct opt_row *r, UNUSED const char *v, struct run_opts *o, \
		      UNUSED char *err, UNUSED size_t errlen)

PARSER(opt_env)
{
	if (v[0] == '=' || v[0] == '\0')
		return err_fail(err, errlen, "invalid --%s '%s': want K=V or K", r->name, v);
	if (o->nenv == OPTIONS_MAX_ENV)
		return err_fail(err, errlen, "too many --%s options (max %d)", r->name,
				OPTIONS_MAX_ENV);
	o->env[o->nenv++] = v;
	return 0;
}

PARSER(opt_workdir)
{
	if (v[0] != '/')
		return err_fail(err, errlen, "invalid --%s '%s': want an absolute path", r->name,
				v);
	o->workdir = v;
	return 0;
}

PARSER(opt_user)
{
	if (!valid_user(v))
		return err_fail(err, errlen, "invalid --%s '%s': want UID[:GID]", r->name, v);
	o->user = v;
	return 0;
}

PARSER(opt_interactive)
{
	o->interactive = 1;
	o->tty_given = 1;
	return 0;
}

PARSER(opt_tty)
{
	o->tty = 1;
	o->tty_given = 1;
	return 0;
}

PARSER(opt_name)
{
	if (!vm_name_valid(v))
		return err_fail(err, errlen,
				"invalid --%s '%s': want 1-%d of A-Z a-z 0-9 . _ -, "
				"not starting with . or -",
				r->name, v, VM_NAME_MAX);
	o->name = v;
	return 0;
}

/* --vmm, --accel and --fs are checked by check_options(): the accelerator
 * may come from the caller, and the cache modes depend on the --fs. */
PARSER(opt_vmm)
{
	o->vmm = v;
	return 0;
}

PARSER(opt_accel)
{
	o->accel = v;
	return 0;
}

PARSER(opt_memory)
{
	return row_uint(r, v, "MiB, ", &o->memory_mib, err, errlen);
}

PARSER(opt_cpus)
{
	return row_uint(r, v, "", &o->cpus, err, errlen);
}

PARSER(opt_kernel)
{
	o->kernel = v;
	return 0;
}

PARSER(opt_initrd)
{
	o->initrd = v;
	return 0;
}

/* Repeatable: each adds its words. */
PARSER(opt_append)
{
	if (strlen(o->append_buf) + strlen(v) + 2 > sizeof(o->append_buf))
		return err_fail(err, errlen, "--%s: too long (max %zu bytes)", r->name,
				sizeof(o->append_buf) - 1);
	if (o->append_buf[0])
		strcat(o->append_buf, " ");
	strcat(o->append_buf, v);
	o->append = o->append_buf;
	return 0;
}

PARSER(opt_rtc)
{
	if (!valid_rtc(v))
		return err_fail(err, errlen,
				"invalid --%s '%s': want utc, localtime, "
				"YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
				r->name, v);
	o->rtc = v;
	return 0;
}

/* host, DIR or IMAGE, with ":rw" after an image to write through it. An
 * image whose name ends in ":rw" is named with a second ":rw" (read-write)
 * or not at all: nothing else is split off, so other colons are the path's. */
PARSER(opt_rootfs)
{
	size_t n = strlen(v);
	int rw = n > 3 && !strcmp(v + n - 3, ":rw");
	if (rw)
		n -= 3;
	if (n == 0)
		return err_fail(err, errlen, "invalid --%s '%s': want host, DIR or IMAGE[:rw]",
				r->name, v);
	if (n >= sizeof(o->root.source_buf))
		return err_fail(err, errlen, "invalid --%s: too long", r->name);
	memcpy(o->root.source_buf, v, n);
	o->root.source_buf[n] = '\0';
	o->root.source = o->root.source_buf;
	o->root.rw = rw;
	return 0;
}

/* An absolute path that the guest's kernel command line carries as it is. */
PARSER(opt_init)
{
	if (v[0] != '/')
		return err_fail(err, errlen, "invalid --%s '%s': want an absolute path", r->name,
				v);
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == 0x7f)
			return err_fail(
				err, errlen,
				"invalid --%s '%s': no spaces, quotes or control characters",
				r->name, v);
	o->init = v;
	return 0;
}

PARSER(opt_volume)
{
	return parse_volume(o, v, err, errlen);
}

PARSER(opt_fs)
{
	o->fs = v;
	return 0;
}

PARSER(opt_net)
{
	o->net = v;
	o->net_given = 1;
	return 0;
}

static int port_of(const char *s, size_t len, unsigned short *out)
{
	char buf[8];
	unsigned v;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (parse_uint(buf, 1, 65535, &v) < 0)
		return -1;
	*out = (unsigned short)v;
	return 0;
}

int parse_publish(const char *v, struct publish *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->host_ip, "127.0.0.1");
	const char *slash = strchr(v, '/');
	size_t len = slash ? (size_t)(slash - v) : strlen(v);
	if (slash && strcmp(slash + 1, "tcp") && strcmp(slash + 1, "udp"))
		return err_fail(err, errlen, "invalid -p '%s': the protocol is tcp or udp", v);
	p->udp = slash && !strcmp(slash + 1, "udp");
	/* Split the ports off the end: [IP:]HOST:GUEST. */
	const char *c2 = memrchr(v, ':', len);
	const char *c1 = c2 ? memrchr(v, ':', (size_t)(c2 - v)) : NULL;
	if (!c2)
		return err_fail(err, errlen,
				"invalid -p '%s': want [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]",
				v);
	const char *host = c1 ? c1 + 1 : v;
	if (port_of(host, (size_t)(c2 - host), &p->host_port) < 0 ||
	    port_of(c2 + 1, len - (size_t)(c2 + 1 - v), &p->guest_port) < 0)
		return err_fail(err, errlen, "invalid -p '%s': ports are 1 to 65535", v);
	if (c1) {
		size_t iplen = (size_t)(c1 - v);
		struct in_addr a;
		char ip[16];
		if (iplen == 0 || iplen >= sizeof(ip))
			return err_fail(err, errlen, "invalid -p '%s': want an IPv4 address", v);
		memcpy(ip, v, iplen);
		ip[iplen] = '\0';
		if (inet_pton(AF_INET, ip, &a) != 1)
			return err_fail(err, errlen, "invalid -p '%s': want an IPv4 address", v);
		strcpy(p->host_ip, ip);
	}
	return 0;
}

PARSER(opt_publish)
{
	if (o->npublish >= OPTIONS_MAX_PUBLISH)
		return err_fail(err, errlen, "too many -p (max %d)", OPTIONS_MAX_PUBLISH);
	struct publish p;
	if (parse_publish(v, &p, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < o->npublish; i++)
		if (o->publish[i].host_port == p.host_port && o->publish[i].udp == p.udp)
			return err_fail(err, errlen, "-p %s: host port %u/%s is published twice", v,
					p.host_port, p.udp ? "udp" : "tcp");
	o->publish[o->npublish++] = p;
	return 0;
}

PARSER(opt_host_port)
{
	unsigned short port;
	if (port_of(v, strlen(v), &port) < 0)
		return err_fail(err, errlen, "invalid --%s '%s': want a port, 1 to 65535", r->name,
				v);
	if (o->nhost_ports >= OPTIONS_MAX_HOST_PORTS)
		return err_fail(err, errlen, "too many --%s (max %d)", r->name,
				OPTIONS_MAX_HOST_PORTS);
	for (size_t i = 0; i < o->nhost_ports; i++)
		if (o->host_ports[i] == port)
			return 0;
	o->host_ports[o->nhost_ports++] = port;
	return 0;
}

PARSER(opt_vsock)
{
	return row_socket(r, v, &o->vsock, err, errlen);
}

PARSER(opt_cid)
{
	return row_uint(r, v, "", &o->cid, err, errlen);
}

PARSER(opt_no_vsock)
{
	o->no_vsock = 1;
	return 0;
}

PARSER(opt_port_forward)
{
	o->port_forward = 1;
	return 0;
}

PARSER(opt_no_port_forward)
{
	o->port_forward = -1;
	return 0;
}

PARSER(opt_qmp)
{
	return row_socket(r, v, &o->qmp, err, errlen);
}

/* Seconds, more than the row's min and at most its max. */
PARSER(opt_timeout)
{
	char *end;
	errno = 0;
	o->timeout = strtod(v, &end);
	if (errno || end == v || *end || !(o->timeout > (double)r->min) ||
	    o->timeout > (double)r->max)
		return err_fail(err, errlen, "invalid --%s '%s': want seconds > %lu, up to %lu",
				r->name, v, r->min, r->max);
	return 0;
}

PARSER(opt_trace)
{
	o->trace = 1;
	return 0;
}

PARSER(opt_trace_json)
{
	o->trace_json = v;
	return 0;
}

PARSER(opt_verbose)
{
	o->verbose = 1;
	return 0;
}

PARSER(opt_help)
{
	o->help = 1;
	return 0;
}

/* The notes of the usage: defaults, and limits that depend on other options. */
#define NOTE(fn) static void fn(UNUSED enum opts_cmd cmd, char *buf, size_t size)

NOTE(note_vmm)
{
	snprintf(buf, size, "default %s", vmm_qemu_microvm.name);
}

NOTE(note_accel)
{
	snprintf(buf, size, "default $WISP_ACCEL, else %s", DEFAULT_ACCEL);
}

/* The default, and the least each machine boots with. */
NOTE(note_memory)
{
	char names[128], *save;
	vmm_names(names, sizeof(names));
	snprintf(buf, size, "default %d; the least:", DEFAULT_MEMORY_MIB);
	const char *sep = " ";
	for (char *name = strtok_r(names, "|", &save); name; name = strtok_r(NULL, "|", &save)) {
		const struct vmm *vmm = vmm_find(name);
		size_t at = strlen(buf);
		if (vmm)
			snprintf(buf + at, size - at, "%s%s %u", sep, name, vmm->min_memory_mib);
		sep = ", ";
	}
}

NOTE(note_cpus)
{
	snprintf(buf, size, "default %d", DEFAULT_CPUS);
}

NOTE(note_fs)
{
	snprintf(buf, size, "default %s", DEFAULT_FS);
}

NOTE(note_net)
{
	snprintf(buf, size, "default %s", DEFAULT_NET);
}

NOTE(note_cid)
{
	snprintf(buf, size, "default %d", DEFAULT_CID);
}

/* The cache modes of each --fs. */
NOTE(note_volume)
{
	buf[0] = '\0';
	for (size_t i = 0; fs_names[i]; i++) {
		char modes[128];
		size_t at = strlen(buf);
		join(fs_caches[i], modes, sizeof(modes));
		snprintf(buf + at, size - at, "%s%s %s", i ? ", " : "MODE for ", fs_names[i],
			 modes);
	}
}

/* Only start has a timeout by default: the wait for the guest. */
NOTE(note_timeout)
{
	if (cmd == OPTS_START)
		snprintf(buf, size, "default %d", OPTIONS_START_TIMEOUT_S);
}

/* Which commands take an option: the command's own (its stdio, user and
 * environment) are run's and exec's; the VM's are run's and start's. */
#define RUN OPTS_FOR(OPTS_RUN)
#define START OPTS_FOR(OPTS_START)
#define EXEC OPTS_FOR(OPTS_EXEC)
#define COMMAND (RUN | EXEC)
#define VM (RUN | START)

const struct opt_row options_table[] = {
	{ .name = "env",
	  .letter = 'e',
	  .metavar = "K=V|K",
	  .cmds = COMMAND,
	  .group = G_COMMAND,
	  .parse = opt_env,
	  .help = { "set a variable (repeatable); K alone copies the host's value" } },
	{ .name = "workdir",
	  .letter = 'w',
	  .metavar = "DIR",
	  .cmds = COMMAND,
	  .group = G_COMMAND,
	  .parse = opt_workdir,
	  .help = { "the command's working directory (absolute)" } },
	{ .name = "user",
	  .letter = 'u',
	  .metavar = "UID[:GID]",
	  .cmds = COMMAND,
	  .group = G_COMMAND,
	  .parse = opt_user,
	  .help = { "run as that user, supplementary groups cleared" } },
	{ .name = "interactive",
	  .letter = 'i',
	  .cmds = COMMAND,
	  .group = G_COMMAND,
	  .parse = opt_interactive,
	  .help = { "forward stdin (else the command reads an empty one)" } },
	{ .name = "tty",
	  .letter = 't',
	  .cmds = COMMAND,
	  .group = G_COMMAND,
	  .parse = opt_tty,
	  .help = { "give the command a terminal; yours is raw meanwhile" } },

	{ .name = "name",
	  .metavar = "NAME",
	  .cmds = START,
	  .group = G_MACHINE,
	  .parse = opt_name,
	  .help = { "the VM's name, for wisp exec, stop and ps" } },
	{ .name = "vmm",
	  .metavar = "VMM",
	  .choices = vmm_names,
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_vmm,
	  .help = { "the machine" },
	  .note = note_vmm },
	{ .name = "accel",
	  .metavar = "ACCEL",
	  .choices = accel_choices,
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_accel,
	  .help = { "the accelerator" },
	  .note = note_accel },
	{ .name = "memory",
	  .letter = 'm',
	  .metavar = "MIB",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .min = MIN_MEMORY_MIB,
	  .max = MAX_MEMORY_MIB,
	  .parse = opt_memory,
	  .help = { "guest memory in MiB" },
	  .note = note_memory },
	{ .name = "cpus",
	  .metavar = "N",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .min = 1,
	  .max = MAX_CPUS,
	  .parse = opt_cpus,
	  .help = { "virtual CPUs" },
	  .note = note_cpus },
	{ .name = "kernel",
	  .metavar = "PATH",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_kernel,
	  .help = { "the kernel (default: vmlinux beside wisp)" } },
	{ .name = "initrd",
	  .metavar = "PATH",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_initrd,
	  .help = { "the initramfs (default: initramfs.cpio.lz4 beside wisp)" } },
	{ .name = "append",
	  .metavar = "ARGS",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_append,
	  .help = { "more kernel arguments; after wisp's, so they win (repeatable)" } },
	{ .name = "rootfs",
	  .metavar = "host|DIR|IMAGE[:rw]",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_rootfs,
	  .help = { "a real root, read-only with writes in a tmpfs overlay: the host's /, a "
		    "directory, or an ext4, erofs or squashfs image (:rw writes through to an "
		    "ext4 one)" } },
	{ .name = "init",
	  .metavar = "PATH",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_init,
	  .help = { "with --rootfs: PATH in the root (e.g. /lib/systemd/systemd) becomes PID "
		    "1 once the root is ready" } },
	{ .name = "rtc",
	  .metavar = "utc|localtime|DATE",
	  .cmds = VM,
	  .group = G_MACHINE,
	  .parse = opt_rtc,
	  .help = { "where the guest's RTC starts; DATE: 2001-01-01 or 2001-01-01T00:00:00" } },

	{ .name = "volume",
	  .letter = 'v',
	  .metavar = "HOST:GUEST[:OPTS]",
	  .cmds = VM,
	  .group = G_SHARES,
	  .parse = opt_volume,
	  .help = { "share the host directory HOST at GUEST (repeatable); OPTS: ro, rw, "
		    "passthrough, cache=MODE, comma-separated; \\: is a ':' in HOST or GUEST" },
	  .note = note_volume },
	{ .name = "fs",
	  .metavar = "FS",
	  .choices = fs_choices,
	  .cmds = VM,
	  .group = G_SHARES,
	  .parse = opt_fs,
	  .help = { "how volumes are shared" },
	  .note = note_fs },

	{ .name = "net",
	  .metavar = "MODE",
	  .choices = net_choices,
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .parse = opt_net,
	  .help = { "user: a NIC with outbound NAT and DNS (QEMU's slirp in a network "
		    "namespace of its own, slirp4netns), no root needed; none: loopback only" },
	  .note = note_net },
	{ .name = "publish",
	  .letter = 'p',
	  .metavar = "[IP:]HOST:GUEST[/tcp|udp]",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .parse = opt_publish,
	  .help = { "a host port that reaches a guest port (repeatable; IP defaults to "
		    "127.0.0.1, as Docker's -p)" } },
	{ .name = "host-port",
	  .metavar = "PORT",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .parse = opt_host_port,
	  .help = { "let the guest reach the host's 127.0.0.1:PORT as host.wisp.internal:PORT "
		    "(repeatable; no other host port is reachable)" } },
	{ .name = "vsock",
	  .metavar = "PATH",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .min = 1,
	  .max = MAX_SOCKET_PATH,
	  .parse = opt_vsock,
	  .help = { "the host's end of the vsock device (default: a private one)" } },
	{ .name = "cid",
	  .metavar = "N",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .min = MIN_CID,
	  .max = MAX_ID,
	  .parse = opt_cid,
	  .help = { "the guest's vsock CID" },
	  .note = note_cid },
	{ .name = "no-vsock",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .parse = opt_no_vsock,
	  .help = { "no vsock: the command's stdio on a virtio-serial port" } },
	{ .name = "qmp",
	  .metavar = "PATH",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .min = 1,
	  .max = MAX_SOCKET_PATH,
	  .parse = opt_qmp,
	  .help = { "a QMP socket at PATH (to stop and cont the VM)" } },
	{ .name = "port-forward",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .parse = opt_port_forward,
	  .help = { "the guest's TCP ports that listen on 0.0.0.0 or 127.0.0.1 are the host's "
		    "127.0.0.1:PORT too, over vsock (start's default)" } },
	{ .name = "no-port-forward",
	  .cmds = VM,
	  .group = G_SOCKETS,
	  .parse = opt_no_port_forward,
	  .help = { "no forwarded ports (run's default)" } },

	{ .name = "timeout",
	  .metavar = "SECONDS",
	  .cmds = RUN | START | EXEC,
	  .group = G_OUTPUT,
	  .min = 0,
	  .max = MAX_TIMEOUT_S,
	  .parse = opt_timeout,
	  .help = { [OPTS_RUN] = "kill the VM after SECONDS (exit 124)",
		    [OPTS_START] = "how long to wait until the guest is ready",
		    [OPTS_EXEC] = "end the command after SECONDS (exit 124)" },
	  .note = note_timeout },
	{ .name = "trace",
	  .cmds = COMMAND,
	  .group = G_OUTPUT,
	  .parse = opt_trace,
	  .help = { [OPTS_RUN] = "the boot timeline on stderr, after the command's output",
		    [OPTS_EXEC] = "the guest's trace on stderr" } },
	{ .name = "trace-json",
	  .metavar = "FILE",
	  .cmds = VM,
	  .group = G_OUTPUT,
	  .parse = opt_trace_json,
	  .help = { "the boot timeline as JSON, into FILE" } },
	{ .name = "verbose",
	  .cmds = VM,
	  .group = G_OUTPUT,
	  .parse = opt_verbose,
	  .help = { "the kernel log and the VMM's messages on stderr" } },
	{ .name = "help",
	  .letter = 'h',
	  .cmds = RUN | START | EXEC,
	  .group = G_OUTPUT,
	  .parse = opt_help,
	  .help = { "this text" } },
	{ .name = NULL },
};

#define NROWS (sizeof(options_table) / sizeof(options_table[0]) - 1)
/* What getopt_long() returns for options_table[i] given by its long name;
 * above any short letter. */
#define LONG_BASE 256

const char *options_cmd_name(enum opts_cmd cmd)
{
	return cmd_names[cmd];
}

/* getopt_long()'s tables, made from options_table. */
struct getopt_tables {
	struct option longs[NROWS + 1];
	char shorts[2 + 2 * NROWS + 1];
};

static struct getopt_tables make_getopt_tables(void)
{
	struct getopt_tables t;
	/* '+': stop at the first word that is not an option (the command, or
	 * exec's VM name); ':': a missing value is told apart from an unknown
	 * option. */
	char *s = t.shorts;
	*s++ = '+';
	*s++ = ':';
	for (size_t i = 0; i < NROWS; i++) {
		const struct opt_row *r = &options_table[i];
		t.longs[i] = (struct option){ r->name, r->metavar ? required_argument : no_argument,
					      NULL, LONG_BASE + (int)i };
		if (r->letter) {
			*s++ = r->letter;
			if (r->metavar)
				*s++ = ':';
		}
	}
	t.longs[NROWS] = (struct option){ NULL, 0, NULL, 0 };
	*s = '\0';
	return t;
}

/* The row of what getopt_long() returned, or NULL. */
static const struct opt_row *row_of(int c)
{
	if (c >= LONG_BASE && c < LONG_BASE + (int)NROWS)
		return &options_table[c - LONG_BASE];
	for (const struct opt_row *r = options_table; r->name; r++)
		if (r->letter && r->letter == c)
			return r;
	return NULL;
}

/* An option as it was given: "--memory" or "-m". */
static void given_as(int c, char *buf, size_t size)
{
	const struct opt_row *r = row_of(c);
	if (r && c >= LONG_BASE)
		snprintf(buf, size, "--%s", r->name);
	else
		snprintf(buf, size, "-%c", c);
}

int options_first_operand(int argc, char **argv)
{
	struct getopt_tables t = make_getopt_tables();
	optind = 0;
	opterr = 0;
	while (getopt_long(argc, argv, t.shorts, t.longs, NULL) != -1)
		; /* errors are parse_options()'s to report */
	if (optind >= argc || !strcmp(argv[optind - 1], "--"))
		return -1;
	return optind;
}

void free_run_options(struct run_opts *o)
{
	for (size_t i = 0; i < o->nvolumes; i++) {
		free(o->volumes[i].spec);
		free(o->volumes[i].host);
	}
	o->nvolumes = 0;
}

static void set_defaults(struct run_opts *o, const struct opts_defaults *d)
{
	memset(o, 0, sizeof(*o));
	o->vmm = vmm_qemu_microvm.name;
	o->accel = d && d->accel && *d->accel ? d->accel : DEFAULT_ACCEL;
	o->memory_mib = DEFAULT_MEMORY_MIB;
	o->cpus = DEFAULT_CPUS;
	o->fs = DEFAULT_FS;
	o->net = DEFAULT_NET;
	o->cid = DEFAULT_CID;
}

/* What getopt_long() did not take: an unknown option, a missing value or
 * one too many. */
static int getopt_error(int c, char **argv, char *err, size_t errlen)
{
	char opt[64];
	if (c == ':') {
		given_as(optopt, opt, sizeof(opt));
		return err_fail(err, errlen, "option '%s' needs a value", opt);
	}
	if (optopt >= LONG_BASE) {
		given_as(optopt, opt, sizeof(opt));
		return err_fail(err, errlen, "option '%s' takes no value", opt);
	}
	if (optopt)
		return err_fail(err, errlen, "unknown option '-%c'", optopt);
	return err_fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
}

/* The options against each other, and against the command. */
static int check_options(enum opts_cmd cmd, const struct run_opts *o, char *err, size_t errlen)
{
	/* exec's VM is up already: the machine's options are not exec's. */
	if (cmd != OPTS_EXEC) {
		char names[128];
		const struct vmm *vmm = vmm_find(o->vmm);
		if (!vmm) {
			vmm_names(names, sizeof(names));
			return fail_choice(err, errlen, names, "unknown --vmm '%s'", o->vmm);
		}
		/* Above MIN_MEMORY_MIB, which --memory checked, a machine's
		 * minimum is its firmware's share. */
		if (o->memory_mib < vmm->min_memory_mib)
			return err_fail(err, errlen,
					"--memory below %u MiB does not boot on %s "
					"(its firmware takes a share)",
					vmm->min_memory_mib, vmm->name);
		if (find(accels, o->accel) < 0) {
			accel_choices(names, sizeof(names));
			return fail_choice(err, errlen, names, "unknown --accel '%s'", o->accel);
		}
		int fs = find(fs_names, o->fs);
		if (fs < 0) {
			fs_choices(names, sizeof(names));
			return fail_choice(err, errlen, names, "unknown --fs '%s'", o->fs);
		}
		for (size_t i = 0; i < o->nvolumes; i++) {
			const char *cache = o->volumes[i].cache;
			if (cache && find(fs_caches[fs], cache) < 0) {
				join(fs_caches[fs], names, sizeof(names));
				return fail_choice(err, errlen, names,
						   "invalid cache mode '%s' for --fs %s", cache,
						   o->fs);
			}
		}
		if (find(net_names, o->net) < 0) {
			net_choices(names, sizeof(names));
			return fail_choice(err, errlen, names, "unknown --net '%s'", o->net);
		}
		if (!strcmp(o->net, "none") && (o->npublish || o->nhost_ports) && o->net_given)
			return err_fail(err, errlen, "%s needs --net user: --net none has no NIC",
					o->npublish ? "-p" : "--host-port");
		if (o->vsock && o->no_vsock)
			return err_fail(err, errlen,
					"--vsock and --no-vsock contradict each other");
		if (o->init && !o->root.source)
			return err_fail(err, errlen,
					"--init needs --rootfs: the initramfs has no "
					"other init");
	}
	if (cmd == OPTS_START && !o->name)
		return err_fail(err, errlen, "wisp start needs --name NAME");
	if (cmd == OPTS_START && o->argc > 0)
		return err_fail(err, errlen, "wisp start takes no command ('%s'): use wisp exec",
				o->argv[0]);
	if (cmd == OPTS_EXEC && o->argc == 0)
		return err_fail(err, errlen, "wisp exec needs a command");
	return 0;
}

int parse_options(enum opts_cmd cmd, const struct opts_defaults *d, int argc, char **argv,
		  struct run_opts *o, char *err, size_t errlen)
{
	set_defaults(o, d);
	struct getopt_tables t = make_getopt_tables();
	/* getopt's state is global: start it afresh, quietly. */
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, t.shorts, t.longs, NULL)) != -1) {
		const struct opt_row *r = row_of(c); /* none for ':' and '?' */
		if (!r)
			return getopt_error(c, argv, err, errlen);
		if (!(r->cmds & OPTS_FOR(cmd))) {
			char opt[64];
			given_as(c, opt, sizeof(opt));
			return err_fail(err, errlen, "option '%s' does not apply to wisp %s", opt,
					cmd_names[cmd]);
		}
		if (r->parse(r, optarg, o, err, errlen) < 0)
			return -1;
		if (o->help)
			return 0; /* whatever follows */
	}
	o->argv = argv + optind;
	o->argc = argc - optind;
	/* A published or host port asks for the NIC, as Docker's -p does. */
	if (!o->net_given && (o->npublish || o->nhost_ports))
		o->net = "user";
	return check_options(cmd, o, err, errlen);
}

/* The synopsis of each command and what it does. */
static const struct {
	const char *synopsis, *about;
} commands[OPTS_NCMDS] = {
	[OPTS_RUN] = { "wisp run [OPTIONS] [--] [COMMAND [ARG...]]",
		       "Boots a VM, runs COMMAND (default: a shell) in it, powers the VM off\n"
		       "and exits with the command's status." },
	[OPTS_START] = { "wisp start --name NAME [OPTIONS]",
			 "Boots a VM that stays up for `wisp exec NAME` until `wisp stop NAME`." },
	[OPTS_EXEC] = { "wisp exec NAME [OPTIONS] [--] COMMAND [ARG...]",
			"Runs COMMAND in the VM NAME that `wisp start` started." },
};

/* Where the help text starts on an option's line, and where lines end. */
#define HELP_COLUMN 32
#define USAGE_WIDTH 99

/* One option's lines: its names and value, then from HELP_COLUMN on (on a
 * line of its own when the names reach it) its help and its note, wrapped. */
static void usage_row(const struct opt_row *r, enum opts_cmd cmd, FILE *f)
{
	char value[128] = "", note[160] = "", text[512];
	if (r->choices)
		r->choices(value, sizeof(value));
	else if (r->metavar)
		snprintf(value, sizeof(value), "%s", r->metavar);
	int col = r->letter ? fprintf(f, "  -%c, --%s", r->letter, r->name)
			    : fprintf(f, "      --%s", r->name);
	if (value[0])
		col += fprintf(f, " %s", value);
	if (r->note)
		r->note(cmd, note, sizeof(note));
	snprintf(text, sizeof(text), "%s%s%s%s", r->help[cmd] ? r->help[cmd] : r->help[0],
		 note[0] ? " (" : "", note, note[0] ? ")" : "");
	/* Word by word; a line gets at least one. */
	int words = 0;
	char *save;
	for (char *w = strtok_r(text, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		int len = (int)strlen(w);
		if (col + 2 > HELP_COLUMN && (!words || col + 1 + len > USAGE_WIDTH)) {
			fputc('\n', f);
			col = 0;
			words = 0;
		}
		col += fprintf(f, "%*s%s", words ? 1 : HELP_COLUMN - col, "", w);
		words++;
	}
	fputc('\n', f);
}

void options_usage(enum opts_cmd cmd, FILE *f)
{
	fprintf(f, "usage: %s\n%s\n", commands[cmd].synopsis, commands[cmd].about);
	for (unsigned g = 0; g < NGROUPS; g++) {
		int heading = 0;
		for (const struct opt_row *r = options_table; r->name; r++) {
			if (r->group != g || !(r->cmds & OPTS_FOR(cmd)))
				continue;
			if (!heading++)
				fprintf(f, "\n%s\n", group_titles[g]);
			usage_row(r, cmd, f);
		}
	}
}

int vm_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > VM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

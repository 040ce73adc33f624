#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MEMORY_MIB 128
/* The kernel is linked at 16 MiB and ends near 30; QEMU puts the initramfs
 * at the top of RAM. Below this they overlap and the guest resets or hangs. */
/* The least guest RAM that boots, with the kernel at 16 MiB and the
 * initramfs put at the top of RAM by QEMU: below that the two overlap. On
 * q35 and pc the firmware takes its share too (35 MiB overwrote the kernel). */
#define MIN_MEMORY_MIB 32 /* the messages below say it too */
#define MIN_MEMORY_MIB_FIRMWARE 36
#define MAX_MEMORY_MIB (1024 * 1024)
#define MAX_CPUS 64
#define MAX_TIMEOUT (365.0 * 24 * 3600)

const char run_usage[] =
	"usage: wisp run [OPTIONS] [--] [COMMAND [ARG...]]\n"
	"  --vmm qemu-microvm|qemu-q35|qemu-pc   machine (default qemu-microvm)\n"
	"  --accel tcg|kvm                        accelerator (default $WISP_ACCEL or tcg)\n"
	"  --kernel PATH  --initrd PATH           default: vmlinux, initramfs.cpio.lz4 beside wisp\n"
	"  -m, --memory MIB   --cpus N            guest memory (default 128) and vCPUs (default 1)\n"
	"  -e, --env K=V|K    -w, --workdir DIR   -u, --user UID[:GID]\n"
	"  -i, --interactive  -t, --tty           forward stdin; give the command a tty\n"
	"  --timeout SECONDS  --append 'ARGS'     kill the VM after SECONDS (exit 124); kernel args\n"
	"                                         (--append is repeatable)\n"
	"  -v, --volume HOST:GUEST[:ro][,cache=M] share a host directory (repeatable)\n"
	"  --fs 9p|virtiofs                       how volumes are shared (default 9p)\n"
	"  --trace  --trace-json FILE             the boot timeline on stderr / as JSON\n"
	"  --vsock PATH  --cid N                  the vsock socket's host path (default: private)\n"
	"  --no-vsock                             no vsock: the command's stdio on a virtio port\n"
	"  --rtc utc|localtime|DATE               the guest's RTC (DATE: 2001-01-01T00:00:00)\n"
	"  --qmp PATH                             a QMP socket at PATH (to stop/cont the VM)\n"
	"  --verbose                              kernel log and VMM messages on stderr\n";

const char start_usage[] =
	"usage: wisp start --name NAME [OPTIONS]     boot a VM that stays up for `wisp exec`\n"
	"  the VM options of `wisp run --help`; --timeout SECONDS bounds the wait until the\n"
	"  guest is ready (default 60); -i, -t, -e, -w, -u belong to `wisp exec`\n";

const char exec_usage[] =
	"usage: wisp exec NAME [OPTIONS] [--] COMMAND [ARG...]\n"
	"  -e, --env K=V|K    -w, --workdir DIR   -u, --user UID[:GID]\n"
	"  -i, --interactive  -t, --tty           forward stdin; give the command a tty\n"
	"  --timeout SECONDS                      end the command after SECONDS (exit 124)\n"
	"  --trace                                the guest's trace on stderr\n";

enum {
	OPT_VMM = 256, OPT_ACCEL, OPT_KERNEL, OPT_INITRD, OPT_CPUS, OPT_TIMEOUT, OPT_APPEND,
	OPT_VERBOSE, OPT_FS, OPT_TRACE, OPT_TRACE_JSON, OPT_VSOCK, OPT_CID, OPT_NO_VSOCK, OPT_NAME,
	OPT_RTC, OPT_QMP,
};

static const struct option long_opts[] = {
	{ "vmm", required_argument, NULL, OPT_VMM },
	{ "accel", required_argument, NULL, OPT_ACCEL },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "volume", required_argument, NULL, 'v' },
	{ "fs", required_argument, NULL, OPT_FS },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "trace-json", required_argument, NULL, OPT_TRACE_JSON },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "cid", required_argument, NULL, OPT_CID },
	{ "no-vsock", no_argument, NULL, OPT_NO_VSOCK },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "rtc", required_argument, NULL, OPT_RTC },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int fail(char *err, size_t len, const char *fmt, const char *arg)
{
	snprintf(err, len, fmt, arg);
	return -1;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
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
	if (parse_uint(uid, 0, 0xfffffffeU, &id))
		return 0;
	return !colon || parse_uint(colon + 1, 0, 0xfffffffeU, &id) == 0;
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

static int valid_vmm(const char *v)
{
	return !strcmp(v, "qemu-microvm") || !strcmp(v, "qemu-q35") || !strcmp(v, "qemu-pc");
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

static int valid_cache(const char *fs, const char *cache)
{
	static const char *const p9[] = { "none", "mmap", "loose", "fscache" };
	static const char *const vfs[] = { "auto", "always", "none" };
	const char *const *list = strcmp(fs, "9p") ? vfs : p9;
	size_t n = strcmp(fs, "9p") ? 3 : 4;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cache, list[i]))
			return 1;
	return 0;
}

static int parse_volume(struct run_opts *o, const char *arg, char *err, size_t errlen)
{
	if (o->nvolumes == OPTIONS_MAX_VOLUMES)
		return fail(err, errlen, "too many volumes (max %s)", "16");
	struct volume *v = &o->volumes[o->nvolumes];
	memset(v, 0, sizeof(*v));
	v->spec = strdup(arg);
	if (!v->spec)
		return fail(err, errlen, "out of memory%s", "");
	o->nvolumes++;
	char *guest = strchr(v->spec, ':');
	if (!guest || guest == v->spec)
		return fail(err, errlen, "invalid --volume '%s': want HOSTDIR:GUESTDIR[:ro]", arg);
	*guest++ = '\0';
	char *opts = strchr(guest, ':');
	if (opts)
		*opts++ = '\0';
	if (guest[0] != '/' || guest[1] == '\0')
		return fail(err, errlen, "invalid --volume '%s': GUESTDIR must be absolute, not /", arg);
	v->host = v->spec;
	v->guest = guest;
	normalize_path(v->guest);
	for (char *opt = opts ? strtok(opts, ",") : NULL; opt; opt = strtok(NULL, ",")) {
		if (!strcmp(opt, "ro"))
			v->ro = 1;
		else if (!strcmp(opt, "rw"))
			v->ro = 0;
		else if (!strncmp(opt, "cache=", 6) && opt[6])
			v->cache = opt + 6;
		else
			return fail(err, errlen, "invalid --volume option '%s': want ro, rw or cache=MODE", opt);
	}
	for (size_t i = 0; i + 1 < o->nvolumes; i++)
		if (!strcmp(o->volumes[i].guest, v->guest))
			return fail(err, errlen, "two volumes share the guest path %s", v->guest);
	return 0;
}

void free_run_options(struct run_opts *o)
{
	for (size_t i = 0; i < o->nvolumes; i++)
		free(o->volumes[i].spec);
	o->nvolumes = 0;
}

static void set_defaults(struct run_opts *o, const struct opts_defaults *d)
{
	memset(o, 0, sizeof(*o));
	o->vmm = "qemu-microvm";
	o->accel = d && d->accel && *d->accel ? d->accel : "tcg";
	o->memory_mib = DEFAULT_MEMORY_MIB;
	o->cpus = 1;
	o->fs = "9p";
	o->cid = 3;
}

/* Which options each command takes: the command's own (stdio, user, env)
 * for run and exec, the VM's for run and start. */
static int allowed(enum opts_cmd cmd, int c)
{
	switch (c) {
	case 'e': case 'w': case 'u': case 'i': case 't': case OPT_TRACE:
		return cmd != OPTS_START;
	case OPT_TIMEOUT: case 'h': case ':': case '?':
		return 1;
	case OPT_NAME:
		return cmd == OPTS_START;
	default: /* the VM's */
		return cmd != OPTS_EXEC;
	}
}

static const char *const cmd_names[] = { "run", "start", "exec" };

/* Stops at the first word that is not an option (the command, or exec's
 * VM name); ':' first: a missing value is told apart from an unknown option. */
static const char short_opts[] = "+:m:e:w:u:v:ith";

int options_first_operand(int argc, char **argv)
{
	optind = 0;
	opterr = 0;
	while (getopt_long(argc, argv, short_opts, long_opts, NULL) != -1)
		; /* errors are parse_options()'s to report */
	if (optind >= argc || !strcmp(argv[optind - 1], "--"))
		return -1;
	return optind;
}

int parse_options(enum opts_cmd cmd, const struct opts_defaults *d, int argc, char **argv,
		  struct run_opts *o, char *err, size_t errlen)
{
	set_defaults(o, d);
	/* getopt's state is global: start it afresh, quietly, stopping at the
	 * first word that is not an option (the command). */
	optind = 0;
	opterr = 0;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		if (!allowed(cmd, c)) {
			const char *name = "?";
			for (const struct option *l = long_opts; l->name; l++)
				if (l->val == c)
					name = l->name;
			if (c < 256)
				snprintf(err, errlen, "option '-%c' does not apply to wisp %s", c,
					 cmd_names[cmd]);
			else
				snprintf(err, errlen, "option '--%s' does not apply to wisp %s", name,
					 cmd_names[cmd]);
			return -1;
		}
		switch (c) {
		case OPT_VMM:
			o->vmm = optarg;
			break;
		case OPT_ACCEL:
			o->accel = optarg;
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_INITRD:
			o->initrd = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, MIN_MEMORY_MIB, MAX_MEMORY_MIB, &o->memory_mib))
				return fail(err, errlen, "invalid --memory '%s': want MiB, 32 or more", optarg);
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, MAX_CPUS, &o->cpus))
				return fail(err, errlen, "invalid --cpus '%s': want 1 to 64", optarg);
			break;
		case 'e':
			if (optarg[0] == '=' || optarg[0] == '\0')
				return fail(err, errlen, "invalid --env '%s': want K=V or K", optarg);
			if (o->nenv == OPTIONS_MAX_ENV)
				return fail(err, errlen, "too many --env options (max 256)%s", "");
			o->env[o->nenv++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return fail(err, errlen, "invalid --workdir '%s': want an absolute path", optarg);
			o->workdir = optarg;
			break;
		case 'u':
			if (!valid_user(optarg))
				return fail(err, errlen, "invalid --user '%s': want UID[:GID]", optarg);
			o->user = optarg;
			break;
		case 'i':
			o->interactive = 1;
			o->tty_given = 1;
			break;
		case 't':
			o->tty = 1;
			o->tty_given = 1;
			break;
		case OPT_TIMEOUT:
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->timeout > 0) || o->timeout > MAX_TIMEOUT)
				return fail(err, errlen, "invalid --timeout '%s': want seconds > 0", optarg);
			break;
		case OPT_APPEND:
			/* Repeatable: each adds its words. */
			if (strlen(o->append_buf) + strlen(optarg) + 2 > sizeof(o->append_buf))
				return fail(err, errlen, "--append: too long (max %s bytes)", "2047");
			if (o->append_buf[0])
				strcat(o->append_buf, " ");
			strcat(o->append_buf, optarg);
			o->append = o->append_buf;
			break;
		case OPT_VERBOSE:
			o->verbose = 1;
			break;
		case 'v':
			if (parse_volume(o, optarg, err, errlen) < 0)
				return -1;
			break;
		case OPT_FS:
			o->fs = optarg;
			break;
		case OPT_TRACE:
			o->trace = 1;
			break;
		case OPT_TRACE_JSON:
			o->trace_json = optarg;
			break;
		case OPT_VSOCK:
			if (!optarg[0] || strlen(optarg) > 100)
				return fail(err, errlen, "invalid --vsock '%s': want a socket path under 100 bytes", optarg);
			o->vsock = optarg;
			break;
		case OPT_NO_VSOCK:
			o->no_vsock = 1;
			break;
		case OPT_NAME:
			if (!vm_name_valid(optarg))
				return fail(err, errlen, "invalid --name '%s': want 1-32 of A-Z a-z 0-9 . _ -, "
							 "not starting with . or -", optarg);
			o->name = optarg;
			break;
		case OPT_CID:
			if (parse_uint(optarg, 3, 0xfffffffeU, &o->cid))
				return fail(err, errlen, "invalid --cid '%s': want 3 or more", optarg);
			break;
		case OPT_RTC:
			if (!valid_rtc(optarg))
				return fail(err, errlen, "invalid --rtc '%s': want utc, localtime, "
					    "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", optarg);
			o->rtc = optarg;
			break;
		case OPT_QMP:
			if (!optarg[0] || strlen(optarg) > 100)
				return fail(err, errlen, "invalid --qmp '%s': want a socket path under 100 bytes", optarg);
			o->qmp = optarg;
			break;
		case 'h':
			o->help = 1;
			return 0;
		case ':':
			return fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!valid_vmm(o->vmm))
		return fail(err, errlen, "unknown --vmm '%s': want qemu-microvm, qemu-q35 or qemu-pc", o->vmm);
	if (strcmp(o->vmm, "qemu-microvm") && o->memory_mib < MIN_MEMORY_MIB_FIRMWARE)
		return fail(err, errlen, "--memory below 36 MiB does not boot on %s (its firmware takes a share)",
			    o->vmm);
	if (strcmp(o->accel, "tcg") && strcmp(o->accel, "kvm"))
		return fail(err, errlen, "unknown --accel '%s': want tcg or kvm", o->accel);
	if (strcmp(o->fs, "9p") && strcmp(o->fs, "virtiofs"))
		return fail(err, errlen, "unknown --fs '%s': want 9p or virtiofs", o->fs);
	for (size_t i = 0; i < o->nvolumes; i++)
		if (o->volumes[i].cache && !valid_cache(o->fs, o->volumes[i].cache))
			return fail(err, errlen, "invalid cache mode '%s' for this --fs", o->volumes[i].cache);
	if (o->vsock && o->no_vsock)
		return fail(err, errlen, "--vsock and --no-vsock contradict each other%s", "");
	o->argv = argv + optind;
	o->argc = argc - optind;
	if (cmd == OPTS_START && !o->help && !o->name)
		return fail(err, errlen, "wisp start needs --name NAME%s", "");
	if (cmd == OPTS_START && o->argc > 0)
		return fail(err, errlen, "wisp start takes no command ('%s'): use wisp exec", o->argv[0]);
	if (cmd == OPTS_EXEC && !o->help && o->argc == 0)
		return fail(err, errlen, "wisp exec needs a command%s", "");
	return 0;
}

int vm_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 32 || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

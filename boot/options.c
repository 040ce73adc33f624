#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MEMORY_MIB 256
#define MIN_MEMORY_MIB 16
#define MAX_MEMORY_MIB (1024 * 1024)
#define MAX_CPUS 64
#define MAX_TIMEOUT (365.0 * 24 * 3600)

const char run_usage[] =
	"usage: wisp run [OPTIONS] [--] [COMMAND [ARG...]]\n"
	"  --vmm qemu-microvm|qemu-q35|qemu-pc   machine (default qemu-microvm)\n"
	"  --accel tcg|kvm                        accelerator (default $WISP_ACCEL or tcg)\n"
	"  --kernel PATH  --initrd PATH           default: vmlinux, initramfs.cpio.lz4 beside wisp\n"
	"  -m, --memory MIB   --cpus N            guest memory (default 256) and vCPUs (default 1)\n"
	"  -e, --env K=V|K    -w, --workdir DIR   -u, --user UID[:GID]\n"
	"  -i, --interactive  -t, --tty           forward stdin; give the command a tty\n"
	"  --timeout SECONDS  --append 'ARGS'     kill the VM after SECONDS (exit 124); kernel args\n"
	"  --verbose                              kernel log and VMM messages on stderr\n";

enum { OPT_VMM = 256, OPT_ACCEL, OPT_KERNEL, OPT_INITRD, OPT_CPUS, OPT_TIMEOUT, OPT_APPEND, OPT_VERBOSE };

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

static int valid_vmm(const char *v)
{
	return !strcmp(v, "qemu-microvm") || !strcmp(v, "qemu-q35") || !strcmp(v, "qemu-pc");
}

static void set_defaults(struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vmm = "qemu-microvm";
	o->accel = "tcg";
	o->memory_mib = DEFAULT_MEMORY_MIB;
	o->cpus = 1;
}

int parse_run_options(int argc, char **argv, struct run_opts *o, char *err, size_t errlen)
{
	set_defaults(o);
	const char *accel = getenv("WISP_ACCEL");
	if (accel && *accel)
		o->accel = accel;
	/* getopt's state is global: start it afresh, quietly, stopping at the
	 * first word that is not an option (the command). */
	optind = 0;
	opterr = 0;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "+:m:e:w:u:ith", long_opts, NULL)) != -1) {
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
				return fail(err, errlen, "invalid --memory '%s': want MiB, 16 or more", optarg);
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
			o->append = optarg;
			break;
		case OPT_VERBOSE:
			o->verbose = 1;
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
	if (strcmp(o->accel, "tcg") && strcmp(o->accel, "kvm"))
		return fail(err, errlen, "unknown --accel '%s': want tcg or kvm", o->accel);
	o->argv = argv + optind;
	o->argc = argc - optind;
	return 0;
}

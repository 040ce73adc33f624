/* wisp: the host side of a wisp VM. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "run.h"

static const char usage[] =
	"usage: wisp run [OPTIONS] [--] [COMMAND [ARG...]]   boot, run COMMAND (or a shell), power off\n"
	"       wisp help                                  this text\n";

static void self_dir(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	if (n < 0) {
		snprintf(out, size, ".");
		return;
	}
	out[n] = '\0';
	char *slash = strrchr(out, '/');
	if (slash)
		*slash = '\0';
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	char err[OPTIONS_ERR_LEN];
	if (parse_run_options(argc, argv, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "wisp: %s\n%s", err, run_usage);
		return EXIT_LAUNCHER;
	}
	if (o.help) {
		fputs(run_usage, stdout);
		return 0;
	}
	char dir[PATH_MAX];
	self_dir(dir, sizeof(dir));
	return run_vm(&o, dir);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_LAUNCHER;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	fprintf(stderr, "wisp: unknown command '%s'\n%s", argv[1], usage);
	return EXIT_LAUNCHER;
}

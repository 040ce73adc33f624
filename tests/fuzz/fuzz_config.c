/* libFuzzer target: any bytes as /proc/cmdline must parse without a fault,
 * and every string the parser hands out must be NUL-terminated. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../init/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	if (config_parse((const char *)data, size, &c) < 0)
		return 0;
	size_t total = 0;
	for (int i = 0; c.argv[i]; i++)
		total += strlen(c.argv[i]);
	for (int i = 0; c.env[i]; i++)
		total += strlen(c.env[i]);
	if (c.cwd)
		total += strlen(c.cwd);
	total += strlen(c.hostname);
	(void)total;
	config_free(&c);
	return 0;
}

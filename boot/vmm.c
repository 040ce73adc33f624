/* The table of VMMs: a new VMM is a file of its own and a row here. */
#include "vmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct vmm *const vmms[] = {
	&vmm_qemu_microvm,
	&vmm_qemu_q35,
	&vmm_qemu_pc,
};

#define NVMMS (sizeof(vmms) / sizeof(vmms[0]))

const struct vmm *vmm_find(const char *name)
{
	for (size_t i = 0; i < NVMMS; i++)
		if (!strcmp(vmms[i]->name, name))
			return vmms[i];
	return NULL;
}

void vmm_names(char *buf, size_t size)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NVMMS && at < size; i++) {
		int n = snprintf(buf + at, size - at, "%s%s", i ? "|" : "", vmms[i]->name);
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

void vmm_launch_free(struct vmm_launch *l)
{
	for (int i = 0; i < l->argc; i++)
		free(l->argv[i]);
	l->argc = 0;
	l->nfds = 0;
}

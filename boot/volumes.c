/* The host side of -v volumes, checked before anything starts (volumes.h). */
#include "volumes.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "msg.h"

int volumes_check(const struct run_opts *o)
{
	for (size_t i = 0; i < o->nvolumes; i++) {
		struct stat st;
		const char *host = o->volumes[i].host;
		if (stat(host, &st) < 0) {
			msg_warn("volume %s: %s", host, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			msg_warn("volume %s: not a directory", host);
			return -1;
		}
	}
	return 0;
}

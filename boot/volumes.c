/* The host side of -v volumes, checked before anything starts (volumes.h). */
#include "volumes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "msg.h"

int volumes_check(const struct run_opts *o)
{
	int root = geteuid() == 0;
	int virtiofs = !strcmp(o->fs, "virtiofs");
	for (size_t i = 0; i < o->nvolumes; i++) {
		const struct volume *v = &o->volumes[i];
		struct stat st;
		char *real = realpath(v->host, NULL);
		if (!real || stat(real, &st) < 0) {
			msg_warn("volume %s: %s", v->host, strerror(errno));
			free(real);
			return -1;
		}
		int dir = S_ISDIR(st.st_mode), fits = strlen(real) < VOLUME_HOST_MAX;
		if (dir && fits)
			/* host is the volume's own buffer: the path it names from
			 * now on is the one that was checked. */
			strcpy(v->host, real);
		free(real);
		if (!dir || !fits) {
			msg_warn("volume %s: %s", v->host,
				 dir ? "its real path is too long" : "not a directory");
			return -1;
		}
		if (v->passthrough && !root) {
			msg_warn("volume %s: passthrough needs wisp to run as root", v->host);
			return -1;
		}
		/* 9p as root keeps the guest's owners and modes in user.*
		 * xattrs (vmm_qemu.c): where there are none (tmpfs before
		 * Linux 6.6, /proc), every file the guest made would fail. */
		if (root && !virtiofs && !v->passthrough &&
		    getxattr(v->host, "user.virtfs.uid", NULL, 0) < 0 && errno == ENOTSUP) {
			msg_warn("volume %s: its filesystem has no user xattrs, where 9p as root "
				 "keeps the guest's owners: use --fs virtiofs",
				 v->host);
			return -1;
		}
		/* virtiofsd has no read-only mode: wisp gives it a read-only
		 * mount of the directory, which only root can make. */
		if (v->ro && virtiofs && !root) {
			msg_warn("volume %s: a read-only virtiofs volume needs wisp to run as "
				 "root (--fs 9p can do it)",
				 v->host);
			return -1;
		}
	}
	return 0;
}

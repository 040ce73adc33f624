#include "shutdown.h"

#include <errno.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "log.h"
#include "mounts.h"
#include "rootfs.h"

void power_off(void)
{
	sync();
	unmount_all();
	rootfs_seal();
	sync();
	reboot(RB_AUTOBOOT);
	/* Only reached when the reset did not take: try the ACPI way. */
	log_warn("reboot: %s", strerror(errno));
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

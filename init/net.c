#include "net.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

void loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket for lo: %s", strerror(errno));
		return;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	/* Up is enough: the kernel gives a loopback device 127.0.0.1/8 itself. */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		log_warn("read lo's flags: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		log_warn("bring lo up: %s", strerror(errno));
	close(fd);
}

#include "net.h"

#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
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

#define NIC "eth0" /* the first virtio-net device, named by the kernel */

static void set_inet(struct sockaddr *sa, unsigned addr)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = addr };
	memcpy(sa, &in, sizeof(in));
}

static int nic_ioctl(int fd, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(fd, req, ifr) == 0)
		return 0;
	log_warn("%s of " NIC ": %s", what, strerror(errno));
	return -1;
}

int net_up(const struct config *c)
{
	const struct net *n = &c->net;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket for " NIC ": %s", strerror(errno));
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, NIC);
	/* One warning at the first step that fails: the rest would only
	 * repeat it (no eth0: "No such device" five times). */
	set_inet(&ifr.ifr_addr, n->addr);
	int rc = nic_ioctl(fd, SIOCSIFADDR, &ifr, "set the address");
	unsigned mask = n->prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> n->prefix);
	set_inet(&ifr.ifr_netmask, htonl(mask));
	if (rc == 0)
		rc = nic_ioctl(fd, SIOCSIFNETMASK, &ifr, "set the netmask");
	if (rc == 0 && n->mtu) {
		ifr.ifr_mtu = (int)n->mtu;
		rc = nic_ioctl(fd, SIOCSIFMTU, &ifr, "set the MTU");
	}
	/* The flags share the union with what was set above: read them. */
	if (rc == 0)
		rc = nic_ioctl(fd, SIOCGIFFLAGS, &ifr, "read the flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (rc == 0)
		rc = nic_ioctl(fd, SIOCSIFFLAGS, &ifr, "bring up");
	/* The default route, through the stack's gateway. */
	struct rtentry rt;
	memset(&rt, 0, sizeof(rt));
	set_inet(&rt.rt_dst, 0);
	set_inet(&rt.rt_genmask, 0);
	set_inet(&rt.rt_gateway, n->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)NIC;
	if (rc == 0 && ioctl(fd, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
		log_warn("default route via " NIC ": %s", strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc ? -1 : 0;
}

/* Unit tests of what --net user gives QEMU and slirp4netns (boot/net_args.c). */
#include <string.h>

#include "../../boot/net_stack.h"
#include "check.h"

static void test_netdev(void)
{
	struct run_opts o;
	memset(&o, 0, sizeof(o));
	char buf[512];
	CHECK(net_qemu_netdev(&o, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "user,id=net0,net=10.0.2.15/24,host=10.0.2.2,ipv6=off");
	o.npublish = 2;
	o.publish[0] = (struct publish){ "127.0.0.1", 8080, 80, 0 };
	o.publish[1] = (struct publish){ "0.0.0.0", 5353, 53, 1 };
	CHECK(net_qemu_netdev(&o, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "user,id=net0,net=10.0.2.15/24,host=10.0.2.2,ipv6=off"
		       ",hostfwd=tcp:127.0.0.1:40000-:80,hostfwd=udp:127.0.0.1:40001-:53");
	/* Too small a buffer is an error, never a cut value. */
	CHECK(net_qemu_netdev(&o, buf, 60) < 0);
	o.npublish = OPTIONS_MAX_PUBLISH;
	for (size_t i = 0; i < o.npublish; i++)
		o.publish[i] = (struct publish){ "127.0.0.1", 65535, 65535, 1 };
	char big[NET_NETDEV_MAX];
	CHECK(net_qemu_netdev(&o, big, sizeof(big)) == 0);
}

static void test_slirp_argv(void)
{
	char *argv[16], buf[512];
	CHECK(net_slirp_argv(1234, 1, 3, argv, 16, buf, sizeof(buf)) == 0);
	const char *want[] = { "slirp4netns",
			       "--configure",
			       "--mtu=65520",
			       "--disable-host-loopback",
			       "--cidr=10.0.3.0/24",
			       "--enable-sandbox",
			       "--enable-seccomp",
			       "--ready-fd=3",
			       "1234",
			       "tap0",
			       NULL };
	for (size_t i = 0; want[i]; i++)
		CHECK_STR(argv[i], want[i]);
	CHECK(argv[10] == NULL);
	/* Not root: the user namespace to enter comes before the pid. */
	CHECK(net_slirp_argv(1234, 0, 3, argv, 16, buf, sizeof(buf)) == 0);
	CHECK_STR(argv[6], "--userns-path=/proc/1234/ns/user");
	CHECK_STR(argv[7], "1234");
	CHECK(net_slirp_argv(1234, 0, 3, argv, 5, buf, sizeof(buf)) < 0);
	CHECK(net_slirp_argv(1234, 0, 3, argv, 16, buf, 40) < 0);
}

/* The namespace's hostfwd ports step over the --host-port listeners. */
static void test_ns_port(void)
{
	struct run_opts o;
	memset(&o, 0, sizeof(o));
	CHECK_INT(net_ns_port(&o, 0), 40000);
	CHECK_INT(net_ns_port(&o, 3), 40003);
	o.nhost_ports = 2;
	o.host_ports[0] = 40001;
	o.host_ports[1] = 40000;
	CHECK_INT(net_ns_port(&o, 0), 40002);
	CHECK_INT(net_ns_port(&o, 1), 40003);
	o.host_ports[1] = 40003;
	CHECK_INT(net_ns_port(&o, 1), 40002);
	CHECK_INT(net_ns_port(&o, 2), 40004);
}

int main(void)
{
	test_netdev();
	test_slirp_argv();
	test_ns_port();
	return check_summary("test_net_args");
}

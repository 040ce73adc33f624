/* /etc/hosts and /etc/resolv.conf, and replacing a file (etc_files.h). */
#include "etc_files.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define HOST_ALIAS "host.wisp.internal"

void etc_put_file(const char *path, const char *text)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("unlink %s: %s", path, strerror(errno));
		return;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		log_warn("write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void dotted(unsigned addr, char *out)
{
	struct in_addr a = { .s_addr = addr };
	inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

void etc_hosts_text(const struct config *c, char *out, size_t size)
{
	int n = snprintf(out, size,
			 "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n"
			 "::1\tlocalhost ip6-localhost ip6-loopback\n",
			 c->hostname);
	if (c->net.has_alias && n > 0 && (size_t)n < size) {
		char alias[INET_ADDRSTRLEN];
		dotted(c->net.alias, alias);
		snprintf(out + n, size - (size_t)n, "%s\t" HOST_ALIAS "\n", alias);
	}
}

void etc_resolv_text(const struct config *c, char *out, size_t size)
{
	if (!c->net.on) {
		snprintf(out, size, "# wisp: this VM has no network (--net none)\n");
		return;
	}
	char dns[INET_ADDRSTRLEN];
	dotted(c->net.dns, dns);
	snprintf(out, size, "# wisp: the resolver of --net user\nnameserver %s\n", dns);
}

void etc_write_network(const struct config *c)
{
	if (mkdir("/etc", 0755) < 0 && errno != EEXIST) {
		log_warn("mkdir /etc: %s", strerror(errno));
		return;
	}
	char text[512];
	etc_hosts_text(c, text, sizeof(text));
	etc_put_file("/etc/hosts", text);
	etc_resolv_text(c, text, sizeof(text));
	etc_put_file("/etc/resolv.conf", text);
}

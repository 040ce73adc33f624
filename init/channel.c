#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PORTS_DIR "/sys/class/virtio-ports"
#define POLL_STEP_MS 2

static int read_name(const char *port, char *name, size_t size)
{
	char path[300];
	snprintf(path, sizeof(path), PORTS_DIR "/%s/name", port);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, name, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	return 0;
}

static int find_port(char *dev, size_t size)
{
	DIR *d = opendir(PORTS_DIR);
	if (!d)
		return -1;
	struct dirent *e;
	int found = -1;
	while ((e = readdir(d))) {
		char name[64];
		if (e->d_name[0] == '.' || read_name(e->d_name, name, sizeof(name)) < 0)
			continue;
		if (!strcmp(name, CHANNEL_PORT_NAME)) {
			snprintf(dev, size, "/dev/%s", e->d_name);
			found = 0;
			break;
		}
	}
	closedir(d);
	return found;
}

int channel_ports_exist(void)
{
	DIR *d = opendir(PORTS_DIR);
	if (!d)
		return 0;
	int any = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			any = 1;
	closedir(d);
	return any;
}

int channel_open(int wait_ms)
{
	char dev[300];
	const struct timespec step = { 0, POLL_STEP_MS * 1000000L };
	for (int waited = 0; find_port(dev, sizeof(dev)) < 0; waited += POLL_STEP_MS) {
		if (waited >= wait_ms) {
			log_warn("no virtio port named %s", CHANNEL_PORT_NAME);
			return -1;
		}
		nanosleep(&step, NULL);
	}
	int fd;
	/* devtmpfs creates the node asynchronously too. */
	for (int waited = 0; (fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0;
	     waited += POLL_STEP_MS) {
		if (errno != ENOENT || waited >= wait_ms) {
			log_warn("open %s: %s", dev, strerror(errno));
			return -1;
		}
		nanosleep(&step, NULL);
	}
	return fd;
}

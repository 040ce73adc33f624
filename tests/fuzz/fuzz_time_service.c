/* libFuzzer target: guest bytes into wisp-vsockd's time service, through
 * the socket layer as the vsock connection layer drives it: a few
 * connections, the input split among them in pieces, answers read back,
 * connections closed early or late. Nothing may crash, leak or block. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../boot/vsockd/time_service.h"

#define CONNS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct time_service *ts = time_service_new();
	if (!ts)
		abort();
	int fds[CONNS];
	for (int i = 0; i < CONNS; i++) {
		fds[i] = time_service_open(ts);
		if (fds[i] < 0)
			abort();
	}
	/* Each piece: a byte that picks the connection and its length, then
	 * the bytes; a pick with the top bit set closes that connection. */
	size_t at = 0;
	while (at < size) {
		uint8_t pick = data[at++];
		int c = pick % CONNS;
		size_t len = (pick >> 2) & 0x1f;
		if (len > size - at)
			len = size - at;
		if (pick & 0x80) {
			if (fds[c] >= 0)
				close(fds[c]);
			fds[c] = time_service_open(ts); /* may close the oldest */
			if (fds[c] < 0)
				abort();
		} else if (fds[c] >= 0 && len &&
			   send(fds[c], data + at, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			close(fds[c]); /* the service hung up on it */
			fds[c] = -1;
		}
		at += len;
		time_service_run(ts);
		uint8_t answer[512];
		for (int i = 0; i < CONNS; i++)
			while (fds[i] >= 0 &&
			       recv(fds[i], answer, sizeof(answer), MSG_DONTWAIT) > 0)
				;
	}
	for (int i = 0; i < CONNS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	time_service_run(ts);
	time_service_free(ts);
	return 0;
}

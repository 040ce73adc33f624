/* libFuzzer target: bytes from a guest or a host client through
 * wisp-vsockd's parsers: a virtio-vsock packet (header and payload), a
 * hybrid CONNECT line, and a vhost-user message as QEMU would send it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../boot/vsockd/vhost_user.h"
#include "../../boot/vsockd/vsock_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= VSOCK_HDR_SIZE) {
		struct vsock_hdr h;
		vsock_hdr_get(data, &h);
		(void)vsock_check(&h, 3, size - VSOCK_HDR_SIZE);
		(void)vsock_credit(h.buf_alloc, h.fwd_cnt, h.len);
	}
	uint32_t port;
	(void)vsock_parse_connect((const char *)data, size, &port);

	struct vu_msg m;
	memset(&m, 0, sizeof(m));
	if (size >= 13) {
		memcpy(&m.request, data, 4);
		memcpy(&m.flags, data + 4, 4);
		m.nfds = data[8] % (VU_MAX_FDS + 1);
		size_t n = size - 12 < sizeof(m.p) ? size - 12 : sizeof(m.p);
		m.size = (uint32_t)n;
		memcpy(&m.p, data + 12, n);
		(void)vu_check(&m, 2);
	}
	return 0;
}

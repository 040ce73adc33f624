/* libFuzzer target: any byte stream through the frame parser, as the host
 * and the guest consume it: frame after frame until more bytes are needed
 * or the stream is rejected. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;
	struct wire_frame f;
	long n;
	while ((n = wire_parse(data + at, size - at, &f)) > 0) {
		if (f.payload + f.len > data + size || (size_t)n != WIRE_HDR_SIZE + f.len)
			abort();
		if (f.type == WIRE_EXIT && f.len == 8)
			(void)wire_exit_status(f.payload[0], (int32_t)wire_get_u32(f.payload + 4));
		at += (size_t)n;
	}
	return 0;
}

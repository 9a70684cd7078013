/*
 * libFuzzer target for lib/jscan through the one-pass readers of
 * GetKeyPolicy's and DescribeKey's answers: on any input
 * kms_parse_policy() and kms_parse_key_meta() must give exactly what
 * jansson's tree gives (kms_parse_*_tree()): the same rc, the same
 * values, the same error.  A difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../unit/jscan_compare.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*body = (const char *)data;
	char		 why[1024];

	if (jscan_cmp_policy(body, size, why, sizeof(why)) != 0) {
		fprintf(stderr, "jscan: policy: %s\n", why);
		abort();
	}
	if (jscan_cmp_key_meta(body, size, why, sizeof(why)) != 0) {
		fprintf(stderr, "jscan: meta: %s\n", why);
		abort();
	}
	return 0;
}

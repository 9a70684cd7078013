/*
 * libFuzzer target for lib/jscan through the one-pass GetKeyPolicy
 * reader: on any input kms_parse_policy() must give exactly what
 * jansson's tree gives (kms_parse_policy_tree()): the same rc, the same
 * policy bytes, the same error.  A difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms.h"
#include "kms_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_error	 e1, e2;
	const char		*body = (const char *)data;
	char			*p1 = NULL, *p2 = NULL;
	int			 r1, r2;

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = kms_parse_policy(body, size, &p1, &e1);
	r2 = kms_parse_policy_tree(body, size, &p2, &e2);
	if (r1 != r2 || (r1 == 0 && strcmp(p1, p2) != 0) ||
	    (r1 != 0 && (p1 != NULL || e1.cls != e2.cls ||
	    strcmp(e1.code, e2.code) != 0 ||
	    strcmp(e1.message, e2.message) != 0))) {
		fprintf(stderr, "jscan: rc %d vs %d, \"%s\" vs \"%s\"\n", r1,
		    r2, e1.message, e2.message);
		abort();
	}
	free(p1);
	free(p2);
	return 0;
}

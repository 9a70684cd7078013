/*
 * libFuzzer target for the scalars a user writes in the configuration:
 * durations (duration_parse, with the round trip through duration_format)
 * and KMS ARNs (arn_parse).  The first byte picks the parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arn.h"
#include "duration.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
invariant(int cond, const char *what, const char *input)
{
	if (!cond) {
		fprintf(stderr, "scalar_fuzzer: invariant broken: %s (%s)\n",
		    what, input);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arn	 a;
	char		*s, err[256], buf[64];
	long		 secs, back;

	if (size < 1 || size > 4096)
		return 0;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	err[0] = '\0';
	if (data[0] & 1) {
		if (duration_parse(s, &secs, err, sizeof(err)) == 0) {
			invariant(secs >= 0 && secs <= DURATION_MAX,
			    "duration in range", s);
			duration_format(secs, buf, sizeof(buf));
			invariant(duration_parse(buf, &back, err,
			    sizeof(err)) == 0 && back == secs,
			    "format reads back", buf);
		} else
			invariant(err[0] != '\0', "duration error text", s);
	} else {
		if (arn_parse(s, &a, err, sizeof(err)) == 0) {
			invariant(strnlen(a.account, sizeof(a.account)) == 12,
			    "12-digit account", s);
			invariant(a.region[0] != '\0' &&
			    a.partition[0] != '\0' && a.resource[0] != '\0',
			    "parts present", s);
		} else
			invariant(err[0] != '\0', "arn error text", s);
	}
	free(s);
	return 0;
}

/*
 * libFuzzer target for what a client sends to the daemon's HTTP endpoint:
 * http_head_complete over every split of the input into two reads (it must
 * agree with one read), then http_parse_request_line on the head.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define HEAD_MAX	8192	/* as the endpoint's buffer */

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
invariant(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "httphead_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf, *method, *path;
	size_t	 i;
	int	 whole;

	if (size > HEAD_MAX - 1)
		size = HEAD_MAX - 1;
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	whole = http_head_complete(buf, size, 0);
	for (i = 0; i <= size && i < 64; i++)
		invariant((http_head_complete(buf, i, 0) ||
		    http_head_complete(buf, size, i)) == whole,
		    "two reads agree with one");
	if (http_parse_request_line(buf, &method, &path) == 0) {
		invariant(method >= buf && method < buf + size + 1, "method");
		invariant(path >= buf && path < buf + size + 1, "path");
		invariant(*method != '\0', "method not empty");
		invariant(strchr(path, '?') == NULL, "no query string");
	}
	free(buf);
	return 0;
}

/*
 * libFuzzer target for everything lib/kms reads from the network or the
 * user: the response parsers, error classification, HTTP dates, SigV4 time
 * errors and endpoint URLs.  The first byte picks the parser; for
 * classification the second picks the status.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "kms.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = { 400, 401, 403, 404, 429, 500, 502, 503 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_key_meta	 m, copy;
	struct kms_rotation	 rot;
	struct kms_alias	*aliases = NULL;
	struct kms_listed_key	*keys = NULL;
	struct kms_error	 e;
	struct endpoint_kms_cfg	 cfg;
	const char		*body;
	char			*policy = NULL, *next = NULL, *str, url[512];
	char			 err[256];
	size_t			 len, n = 0, ngrants = 0;
	time_t			 t;
	uint8_t			 sel;

	if (size < 2)
		return 0;
	sel = data[0] % 8;
	body = (const char *)data + 2;
	len = size - 2;
	memset(&e, 0, sizeof(e));
	switch (sel) {
	case 0:
		if (kms_parse_key_meta(body, len, &m, &e) == 0) {
			if (kms_key_meta_copy(&copy, &m) == 0)
				kms_key_meta_free(&copy);
			kms_key_meta_free(&m);
		}
		break;
	case 1:
		if (kms_parse_policy(body, len, &policy, &e) == 0)
			free(policy);
		break;
	case 2:
		(void)kms_parse_rotation(body, len, &rot, &e);
		break;
	case 3:
		/* Twice: the second page appends to the first. */
		if (kms_parse_aliases(body, len, &aliases, &n, &next, &e) == 0)
			free(next);
		if (kms_parse_aliases(body, len, &aliases, &n, &next, &e) == 0)
			free(next);
		kms_aliases_free(aliases, n);
		/* ListKeys pages, likewise. */
		n = 0;
		if (kms_parse_keys(body, len, &keys, &n, &next, &e) == 0)
			free(next);
		if (kms_parse_keys(body, len, &keys, &n, &next, &e) == 0)
			free(next);
		kms_listed_keys_free(keys, n);
		break;
	case 4:
		if (kms_parse_grants(body, len, &ngrants, &next, &e) == 0)
			free(next);
		break;
	case 5:
		kms_classify_error(statuses[data[1] % 8], (data[1] & 8) ?
		    "text/html" : NULL, body, len, &e);
		if (strnlen(e.code, sizeof(e.code)) == sizeof(e.code) ||
		    strnlen(e.message, sizeof(e.message)) == sizeof(e.message))
			abort();
		break;
	case 6:
	case 7:
		if ((str = malloc(len + 1)) == NULL)
			return 0;
		memcpy(str, body, len);
		str[len] = '\0';
		if (sel == 6) {
			(void)kms_parse_http_date(str, &t);
			(void)kms_parse_skew_message(str, &t);
		} else {
			memset(&cfg, 0, sizeof(cfg));
			cfg.endpoint_url = str;
			cfg.allow_http = data[1] & 1;
			(void)endpoint_kms(&cfg, str, NULL, url, sizeof(url),
			    err, sizeof(err));
			cfg.endpoint_url = NULL;
			(void)endpoint_kms(&cfg, str, NULL, url, sizeof(url),
			    err, sizeof(err));
		}
		free(str);
		break;
	}
	return 0;
}

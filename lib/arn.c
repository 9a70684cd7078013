/*
 * ARN parsing for KMS keys and aliases.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "arn.h"
#include "endpoint.h"

/* Copies the next ':'-separated field of *s into buf; -1 if too long or
 * missing. */
static int
arn_field(const char **s, char *buf, size_t len)
{
	const char	*colon = strchr(*s, ':');
	size_t		 n;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - *s);
	if (n >= len)
		return -1;
	memcpy(buf, *s, n);
	buf[n] = '\0';
	*s = colon + 1;
	return 0;
}

int
arn_parse(const char *s, struct arn *out, char *err, size_t errlen)
{
	char		 service[16];
	const char	*p = s, *res;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	if (strncmp(p, "arn:", 4) != 0) {
		(void)snprintf(err, errlen, "not an ARN (must start with "
		    "\"arn:\"): %.80s", s);
		return -1;
	}
	p += 4;
	if (arn_field(&p, out->partition, sizeof(out->partition)) == -1 ||
	    out->partition[0] == '\0') {
		(void)snprintf(err, errlen, "ARN has no partition: %.80s", s);
		return -1;
	}
	if (endpoint_partition_dns_suffix(out->partition) == NULL) {
		(void)snprintf(err, errlen, "unknown AWS partition '%s' in "
		    "ARN", out->partition);
		return -1;
	}
	if (arn_field(&p, service, sizeof(service)) == -1 ||
	    strcmp(service, "kms") != 0) {
		(void)snprintf(err, errlen, "not a KMS ARN (service must be "
		    "\"kms\"): %.80s", s);
		return -1;
	}
	if (arn_field(&p, out->region, sizeof(out->region)) == -1 ||
	    !endpoint_region_ok(out->region)) {
		(void)snprintf(err, errlen, "ARN has no valid region: %.80s",
		    s);
		return -1;
	}
	if (arn_field(&p, out->account, sizeof(out->account)) == -1 ||
	    strlen(out->account) != 12) {
		(void)snprintf(err, errlen, "ARN account must be 12 digits: "
		    "%.80s", s);
		return -1;
	}
	for (i = 0; i < 12; i++)
		if (!isdigit((unsigned char)out->account[i])) {
			(void)snprintf(err, errlen, "ARN account must be 12 "
			    "digits: %.80s", s);
			return -1;
		}
	if (strncmp(p, "key/", 4) == 0) {
		out->kind = ARN_KMS_KEY;
		res = p + 4;
		if (*res == '\0' || strlen(res) > 128) {
			(void)snprintf(err, errlen, "ARN has an empty or too "
			    "long key id: %.80s", s);
			return -1;
		}
		for (i = 0; res[i] != '\0'; i++)
			if (!isalnum((unsigned char)res[i]) && res[i] != '-') {
				(void)snprintf(err, errlen, "invalid character "
				    "'%c' in key id: %.80s", res[i], s);
				return -1;
			}
	} else if (strncmp(p, "alias/", 6) == 0) {
		out->kind = ARN_KMS_ALIAS;
		res = p;
		if (p[6] == '\0' || strlen(res) > 256) {
			(void)snprintf(err, errlen, "ARN has an empty or too "
			    "long alias: %.80s", s);
			return -1;
		}
		for (i = 6; res[i] != '\0'; i++)
			if (!isalnum((unsigned char)res[i]) &&
			    strchr("/_-", res[i]) == NULL) {
				(void)snprintf(err, errlen, "invalid character "
				    "'%c' in alias: %.80s", res[i], s);
				return -1;
			}
	} else {
		(void)snprintf(err, errlen, "ARN resource must be key/ID or "
		    "alias/NAME: %.80s", s);
		return -1;
	}
	out->resource = res;
	return 0;
}

/*
 * KMS key and alias ARNs: arn:PARTITION:kms:REGION:ACCOUNT:key/ID or
 * arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME.
 */
#ifndef KEYHEALTHD_ARN_H
#define KEYHEALTHD_ARN_H

#include <stddef.h>

enum arn_kind {
	ARN_KMS_KEY,
	ARN_KMS_ALIAS
};

struct arn {
	char		partition[16];	/* aws, aws-cn, aws-us-gov, ... */
	char		region[32];
	char		account[13];	/* 12 digits */
	enum arn_kind	kind;
	/* Key id (no "key/") or "alias/NAME": the end of the parsed string,
	 * not a copy (a configured key keeps its parsed ARN: a 288-byte
	 * buffer was most of each key's configuration). */
	const char	*resource;
};

/* Parses s strictly; 0, or -1 with a specific reason in err.  The result
 * points into s (resource): s must live as long as it is used. */
int		 arn_parse(const char *s, struct arn *out, char *err,
		    size_t errlen);

#endif

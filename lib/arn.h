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
	char		resource[288];	/* key id (no "key/") or "alias/NAME" */
};

/* Parses s strictly; 0, or -1 with a specific reason in err. */
int		 arn_parse(const char *s, struct arn *out, char *err,
		    size_t errlen);

#endif

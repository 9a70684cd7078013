/*
 * A watched key's identity, as the checks (struct key_expect), the KMS
 * client (struct kms_target) and the alerts (alert_table_update()) all
 * see it: one struct, filled once per key from its configuration
 * (config_key_keyid()).  The strings are borrowed: they belong to
 * whoever filled it (the configuration) and must outlive its users.
 */
#ifndef KEYHEALTHD_KEYID_H
#define KEYHEALTHD_KEYID_H

struct keyid {
	const char	*arn;		/* the key ARN */
	const char	*name;		/* label; NULL or "": the key id */
	const char	*region;	/* from the ARN */
	const char	*account;	/* from the ARN */
	const char	*partition;	/* from the ARN; NULL: "aws" */
};

/* The key's label: its name, else the key id (the ARN's last part), else
 * the ARN; never NULL. */
const char	*keyid_name(const struct keyid *id);

#endif

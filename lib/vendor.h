/*
 * Vendor profiles: which AWS account a vendor uses in each region, and what
 * a key policy must grant that account.  They are data, not code: shipped
 * as YAML files (one per vendor, citing its BYOK guide) in vendor_dir(),
 * overridable by files in vendors.d next to the config and by the config's
 * own vendors: section; lib/config reads all three.
 */
#ifndef KEYHEALTHD_VENDOR_H
#define KEYHEALTHD_VENDOR_H

#include <stddef.h>

/* One condition that the vendor's requests satisfy, e.g.
 * Bool kms:GrantIsForAWSResource "true". */
struct vendor_cond {
	char	*op;		/* IAM condition operator: "Bool", "StringEquals" */
	char	*key;		/* condition key: "kms:GrantIsForAWSResource" */
	char	*value;		/* "true" */
};

/* A group of actions the vendor needs, all under the same conditions. */
struct vendor_group {
	char			*label;		/* "use of the key" */
	char			**actions;	/* "kms:Encrypt", ... */
	size_t			 nactions;
	struct vendor_cond	*conds;
	size_t			 nconds;
};

struct vendor_account {
	char	*region;	/* "eu-west-1" */
	char	*account;	/* "347752291521" */
};

/* Where a profile was read, in increasing order of precedence. */
enum vendor_from {
	VENDOR_SHIPPED,		/* vendor_dir() */
	VENDOR_LOCAL,		/* vendors.d next to the config */
	VENDOR_CONFIG		/* the config's vendors: */
};

struct vendor {
	char			*name;
	struct vendor_account	*accounts;
	size_t			 naccounts;
	struct vendor_group	*groups;
	size_t			 ngroups;
	char			*key_spec;	/* required KeySpec or NULL */
	char			*key_usage;	/* required KeyUsage or NULL */
	char			*source;	/* the guide's URL, or NULL */
	char			*date;		/* when checked against it */
	char			*origin;	/* "FILE" or "FILE:LINE" */
	enum vendor_from	 from;
};

/* The directory of the shipped profiles: $KEYHEALTHD_VENDOR_DIR when set
 * (tests, a build tree), else the installed one compiled in.  Static or
 * environment storage. */
const char	*vendor_dir(void);

/* The vendor's account for region, or NULL when the vendor does not serve
 * that region.  Points into v. */
const char	*vendor_account(const struct vendor *v, const char *region);

/* Whether a and b ask the same of a key (accounts, requirements, key
 * spec and usage; not where they were read).  NULLs are equal. */
int		 vendor_same(const struct vendor *a, const struct vendor *b);

/* Frees v and everything it owns; NULL is fine. */
void		 vendor_free(struct vendor *v);

#endif

/*
 * Vendor profiles: which AWS account a vendor uses in each region, and what
 * a key policy must grant that account.  The builtin "gearset" profile comes
 * from the vendor's BYOK guide; custom ones are read from the config.
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

struct vendor {
	char			*name;
	struct vendor_account	*accounts;
	size_t			 naccounts;
	struct vendor_group	*groups;
	size_t			 ngroups;
	char			*key_spec;	/* required KeySpec or NULL */
	char			*key_usage;	/* required KeyUsage or NULL */
};

/* A new copy of the builtin profile called name, or NULL if there is none.
 * The caller frees it with vendor_free(). */
struct vendor	*vendor_builtin(const char *name);

/* The names of the builtin profiles, NULL-terminated; static storage. */
const char * const *vendor_builtin_names(void);

/* The vendor's account for region, or NULL when the vendor does not serve
 * that region.  Points into v. */
const char	*vendor_account(const struct vendor *v, const char *region);

/* Frees v and everything it owns; NULL is fine. */
void		 vendor_free(struct vendor *v);

#endif

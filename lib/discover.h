/*
 * Key discovery, the pure half: which vendor a listed key's policy names,
 * what to call the key, and the one-line verdict printed next to it.  The
 * requests (ListKeys, ListAliases, DescribeKey, GetKeyPolicy) are made by
 * daemon/discovery.c through lib/kms; `keyhealthd discover` and the
 * daemon's discover: section share both halves.
 */
#ifndef KEYHEALTHD_DISCOVER_H
#define KEYHEALTHD_DISCOVER_H

#include <stddef.h>

#include "kms.h"

struct policy;
struct vendor;

/* Key names made here stay within the config's rule, shorter. */
#define DISCOVER_NAME_MAX	100

/*
 * Whether a statement of p (Allow or Deny) names account as a principal
 * under Principal: "N", "arn:PARTITION:iam::N:root" or any other IAM ARN
 * of that account.  A NotPrincipal or "*" names nobody in particular.
 * 1 or 0.
 */
int	discover_policy_names(const struct policy *p, const char *account);

/*
 * Which of the n vendors vs the key policy text names (its account for
 * region): the index of the first, -1 when none does, -2 when the policy
 * does not parse (err says why).
 */
int	discover_match(const char *policy, const struct vendor *const *vs,
	    size_t n, const char *region, char *err, size_t errlen);

/* The alias to name key_id by: the first by name of those pointing at
 * it, never alias/aws/...; NULL when it has none.  Points into a. */
const struct kms_alias *discover_alias(const struct kms_alias *a, size_t n,
	    const char *key_id);

/* A key name: the alias without "alias/", '/' and anything outside
 * [A-Za-z0-9._-] as '-', else the key id; at most DISCOVER_NAME_MAX
 * bytes.  buf of len bytes (at least DISCOVER_NAME_MAX + 1). */
void	discover_name(const char *alias, const char *key_id, char *buf,
	    size_t len);

/* Makes buf (a name from discover_name()) unique: while taken(arg, buf)
 * says 1, "-2", "-3", ... replaces any earlier suffix.  0, or -1 when no
 * suffix helps. */
int	discover_name_unique(char *buf, size_t len,
	    int (*taken)(void *, const char *), void *arg);

/*
 * The verdict about a found key, one line: "ok: vendor access complete",
 * else the worst finding of the checks a first poll would run (without a
 * baseline): "vendor-access-missing: ...".  m is its DescribeKey answer,
 * policy its key policy text, v the vendor its policy names.  0, or -1
 * when out of memory.
 */
int	discover_verdict(const char *arn, const struct kms_key_meta *m,
	    const char *policy, const struct vendor *v, char *buf,
	    size_t len);

#endif

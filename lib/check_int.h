/*
 * Internal to lib/check: what check.c and the per-area check files
 * (check_grants.c, ...) share.  Nothing outside lib/check*.c includes it.
 */
#ifndef KEYHEALTHD_CHECK_INT_H
#define KEYHEALTHD_CHECK_INT_H

#include <jansson.h>

#include "check.h"

/* A finding at its check's severity in lib/catalog's table (a check that
 * raises it, as key-material-expiring does, calls findings_add()). */
#define check_add(fs, id, ...) \
	findings_add((fs), (id), catalog_severity(id), __VA_ARGS__)

/* Failed operations collected while checking, reported as one
 * check-failed finding (one alert per key and check id). */
struct check_failures {
	json_t		*errors;	/* array of error objects */
	char		 first[512];	/* summary of the first */
};

/* Records a failed operation op: a KMS error e, or (e NULL) an
 * evaluation failure described by fmt.  0, or -1 when out of memory. */
int	check_fail(struct check_failures *cf, const char *op,
	    const struct kms_error *e, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* check_fail() for a KMS error of op on key name, with a summary that
 * names the code and what to look at. */
int	check_fail_kms(struct check_failures *cf, const char *name,
	    const char *op, const struct kms_error *e);

/* check_grants.c: vendor-grant-revoked, grant-changed, and check-failed
 * for ListGrants (into cf).  0, or -1 when out of memory. */
int	check_grants(const struct key_snapshot *s,
	    const struct key_baseline *base, const struct key_expect *ex,
	    struct findings *out, struct check_failures *cf);
/* The grants part of check_key_json(): {"count", "vendor", "digest",
 * "fetched_at"} (with "error": CODE after a failed listing; without the
 * counts when none ever succeeded), or null (not fetched).  NULL when
 * out of memory. */
json_t	*check_grants_json(const struct key_snapshot *s);
/* Copies prev's grants part into cur when cur did not fetch it, and
 * prev's last summary when cur's fetch failed.  0, or -1 when out of
 * memory (cur unchanged). */
int	check_grants_carry(struct key_snapshot *cur,
	    const struct key_snapshot *prev);

#endif

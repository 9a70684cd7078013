/*
 * lib/check's internals shared by check.c and the per-area check files
 * (check_material.c: imported material and custom key stores;
 * check_grants.c: grants).  Not for other modules: check.h is the
 * interface.
 */
#ifndef KEYHEALTHD_CHECK_INT_H
#define KEYHEALTHD_CHECK_INT_H

#include <time.h>

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

/* Records a failed operation op (e NULL: an evaluation problem, fmt
 * says what); 0 or -1 when out of memory. */
int	check_fail(struct check_failures *, const char *op,
	    const struct kms_error *, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* The same for a KMS error, with a summary naming op and a hint. */
int	check_fail_kms(struct check_failures *, const char *name,
	    const char *op, const struct kms_error *);
/* DescribeKey worked and said KeyState state. */
int	check_state_is(const struct key_snapshot *, const char *state);

/* check_material.c: key-material-expiring and key-material-pending (a
 * described key), keystore-disconnected; 0 or -1 out of memory. */
int	check_material(const struct key_snapshot *, const struct key_expect *,
	    time_t now, struct findings *, struct check_failures *);
int	check_keystore(const struct key_snapshot *, const struct key_expect *,
	    struct findings *, struct check_failures *);
/* Adds "materials" and "custom_key_store" to a key's JSON object o when
 * the snapshot has them; 0 or -1. */
int	check_material_json(const struct key_snapshot *, json_t *o);

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

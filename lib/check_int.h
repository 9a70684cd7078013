/*
 * lib/check's internals shared by check.c and check_material.c (the
 * imported-material and custom-key-store checks).  Not for other
 * modules: check.h is the interface.
 */
#ifndef KEYHEALTHD_CHECK_INT_H
#define KEYHEALTHD_CHECK_INT_H

#include <time.h>

#include <jansson.h>

#include "check.h"

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

#endif

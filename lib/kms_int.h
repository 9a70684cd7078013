/*
 * Internal to lib/kms: the answer-parsing helpers that kms.c and the
 * per-area answer files (kms_grants.c, ...) share.  Nothing outside
 * lib/kms*.c includes it, but the tests that compare the one-pass
 * readers with jansson's tree (test_jscan, the jscan fuzzer).
 */
#ifndef KEYHEALTHD_KMS_INT_H
#define KEYHEALTHD_KMS_INT_H

#include <stddef.h>

#include <jansson.h>

#include "kms.h"

/* "an object", "a string", ... for messages about a JSON value. */
const char	*kms_json_type(const json_t *v);

/* Loads body as a JSON object (a new reference); NULL with a MALFORMED
 * error naming what otherwise. */
json_t		*kms_load_object(const char *body, size_t len,
		    const char *what, struct kms_error *err);

/* Truncated/NextMarker of a page of a List* answer: *next_marker
 * (malloc'd) when Truncated, else NULL.  0, or -1 with a MALFORMED error
 * (Truncated without a NextMarker, wrong types). */
int		 kms_parse_marker(json_t *root, const char *ctx,
		    char **next_marker, struct kms_error *err);

/* kms_parse_policy() through jansson only: the reference that its
 * one-pass reader must agree with (the unit tests and the kms fuzzer
 * compare them). */
int		 kms_parse_policy_tree(const char *body, size_t len,
		    char **policy, struct kms_error *err);
/* kms_parse_key_meta() through jansson only, likewise. */
int		 kms_parse_key_meta_tree(const char *body, size_t len,
		    struct kms_key_meta *out, struct kms_error *err);
/* The one-pass readers alone (lib/jscan): 0, or -1 when unsure (then
 * *policy is NULL; m may hold fields: free it). */
int		 kms_scan_policy(const char *body, size_t len, char **policy);
int		 kms_scan_key_meta(const char *body, size_t len,
		    struct kms_key_meta *m);

#endif

/*
 * The comparison the jscan unit tests and fuzzer share: the one-pass
 * readers of GetKeyPolicy's and DescribeKey's answers (kms_parse_policy(),
 * kms_parse_key_meta()) against jansson's tree (kms_parse_*_tree()) on
 * one body.  Each returns 0 when both give the same rc, the same values
 * and the same error, else -1 with what differs in why.
 */
#ifndef JSCAN_COMPARE_H
#define JSCAN_COMPARE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/kms.h"
#include "../../lib/kms_int.h"

static int
jc_same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
jc_same_err(const struct kms_error *a, const struct kms_error *b)
{
	return a->cls == b->cls && strcmp(a->code, b->code) == 0 &&
	    strcmp(a->message, b->message) == 0;
}

static int
jscan_cmp_policy(const char *body, size_t len, char *why, size_t whylen)
{
	struct kms_error	 e1, e2;
	char			*p1 = NULL, *p2 = NULL;
	int			 r1, r2, rc = -1;

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = kms_parse_policy(body, len, &p1, &e1);
	r2 = kms_parse_policy_tree(body, len, &p2, &e2);
	if (r1 != r2)
		snprintf(why, whylen, "rc %d, jansson %d (\"%s\")", r1, r2,
		    e2.message);
	else if (r1 == 0 && strcmp(p1, p2) != 0)
		snprintf(why, whylen, "policy differs");
	else if (r1 != 0 && p1 != NULL)
		snprintf(why, whylen, "a policy on an error");
	else if (r1 != 0 && !jc_same_err(&e1, &e2))
		snprintf(why, whylen, "error \"%s\" vs jansson's \"%s\"",
		    e1.message, e2.message);
	else
		rc = 0;
	free(p1);
	free(p2);
	return rc;
}

/* The index of the first string of a and b that differs, or -1. */
static int
jc_meta_strings(const struct kms_key_meta *a, const struct kms_key_meta *b)
{
	const char *const	sa[] = { a->key_id, a->arn, a->account, a->state,
	    a->key_spec, a->key_usage, a->key_manager, a->origin,
	    a->expiration_model, a->current_key_material_id,
	    a->custom_key_store_id, a->multi_region_type, a->mr_primary_arn,
	    a->description };
	const char *const	sb[] = { b->key_id, b->arn, b->account, b->state,
	    b->key_spec, b->key_usage, b->key_manager, b->origin,
	    b->expiration_model, b->current_key_material_id,
	    b->custom_key_store_id, b->multi_region_type, b->mr_primary_arn,
	    b->description };
	size_t			i;

	for (i = 0; i < sizeof(sa) / sizeof(sa[0]); i++)
		if (!jc_same_str(sa[i], sb[i]))
			return (int)i;
	return -1;
}

static int
jscan_cmp_key_meta(const char *body, size_t len, char *why, size_t whylen)
{
	struct kms_key_meta	 m1, m2;
	struct kms_error	 e1, e2;
	size_t			 i;
	int			 r1, r2, s, rc = -1;

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = kms_parse_key_meta(body, len, &m1, &e1);
	r2 = kms_parse_key_meta_tree(body, len, &m2, &e2);
	if (r1 != r2) {
		snprintf(why, whylen, "rc %d, jansson %d (\"%s\")", r1, r2,
		    e2.message);
		goto out;
	}
	if ((s = jc_meta_strings(&m1, &m2)) >= 0) {
		snprintf(why, whylen, "string %d differs", s);
		goto out;
	}
	if (m1.mr_nreplicas != m2.mr_nreplicas) {
		snprintf(why, whylen, "%zu replicas, jansson %zu",
		    m1.mr_nreplicas, m2.mr_nreplicas);
		goto out;
	}
	for (i = 0; i < m1.mr_nreplicas; i++)
		if (!jc_same_str(m1.mr_replicas[i], m2.mr_replicas[i])) {
			snprintf(why, whylen, "replica %zu differs", i);
			goto out;
		}
	if (m1.enabled != m2.enabled || m1.multi_region != m2.multi_region ||
	    memcmp(&m1.creation_date, &m2.creation_date, sizeof(double)) ||
	    memcmp(&m1.deletion_date, &m2.deletion_date, sizeof(double)) ||
	    memcmp(&m1.valid_to, &m2.valid_to, sizeof(double)) ||
	    m1.pending_window_days != m2.pending_window_days) {
		snprintf(why, whylen, "flags, times or window differ");
		goto out;
	}
	if (r1 != 0 && !jc_same_err(&e1, &e2)) {
		snprintf(why, whylen, "error \"%s\" vs jansson's \"%s\"",
		    e1.message, e2.message);
		goto out;
	}
	rc = 0;
out:
	kms_key_meta_free(&m1);
	kms_key_meta_free(&m2);
	return rc;
}

#endif

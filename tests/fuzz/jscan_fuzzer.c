/*
 * libFuzzer target for lib/jscan through the one-pass readers of
 * GetKeyPolicy's and DescribeKey's answers: on any input
 * kms_parse_policy() and kms_parse_key_meta() must give exactly what
 * jansson's tree gives (kms_parse_*_tree()): the same rc, the same
 * values, the same error.  A difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms.h"
#include "kms_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
same_err(int rc, const struct kms_error *a, const struct kms_error *b)
{
	return rc == 0 || (a->cls == b->cls && strcmp(a->code, b->code) == 0 &&
	    strcmp(a->message, b->message) == 0);
}

static int
same_meta(const struct kms_key_meta *a, const struct kms_key_meta *b)
{
	size_t	i;

	if (!same_str(a->key_id, b->key_id) || !same_str(a->arn, b->arn) ||
	    !same_str(a->account, b->account) ||
	    !same_str(a->state, b->state) ||
	    !same_str(a->key_spec, b->key_spec) ||
	    !same_str(a->key_usage, b->key_usage) ||
	    !same_str(a->key_manager, b->key_manager) ||
	    !same_str(a->origin, b->origin) ||
	    !same_str(a->expiration_model, b->expiration_model) ||
	    !same_str(a->current_key_material_id,
	    b->current_key_material_id) ||
	    !same_str(a->custom_key_store_id, b->custom_key_store_id) ||
	    !same_str(a->multi_region_type, b->multi_region_type) ||
	    !same_str(a->mr_primary_arn, b->mr_primary_arn) ||
	    !same_str(a->description, b->description) ||
	    a->mr_nreplicas != b->mr_nreplicas ||
	    a->enabled != b->enabled || a->multi_region != b->multi_region ||
	    memcmp(&a->creation_date, &b->creation_date, sizeof(double)) ||
	    memcmp(&a->deletion_date, &b->deletion_date, sizeof(double)) ||
	    memcmp(&a->valid_to, &b->valid_to, sizeof(double)) ||
	    a->pending_window_days != b->pending_window_days)
		return 0;
	for (i = 0; i < a->mr_nreplicas; i++)
		if (!same_str(a->mr_replicas[i], b->mr_replicas[i]))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_key_meta	 m1, m2;
	struct kms_error	 e1, e2;
	const char		*body = (const char *)data;
	char			*p1 = NULL, *p2 = NULL;
	int			 r1, r2;

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = kms_parse_policy(body, size, &p1, &e1);
	r2 = kms_parse_policy_tree(body, size, &p2, &e2);
	if (r1 != r2 || (r1 == 0 && strcmp(p1, p2) != 0) ||
	    (r1 != 0 && p1 != NULL) || !same_err(r1, &e1, &e2)) {
		fprintf(stderr, "jscan: policy rc %d vs %d, \"%s\" vs \"%s\"\n",
		    r1, r2, e1.message, e2.message);
		abort();
	}
	free(p1);
	free(p2);

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = kms_parse_key_meta(body, size, &m1, &e1);
	r2 = kms_parse_key_meta_tree(body, size, &m2, &e2);
	if (r1 != r2 || !same_meta(&m1, &m2) || !same_err(r1, &e1, &e2)) {
		fprintf(stderr, "jscan: meta rc %d vs %d, \"%s\" vs \"%s\"\n",
		    r1, r2, e1.message, e2.message);
		abort();
	}
	kms_key_meta_free(&m1);
	kms_key_meta_free(&m2);
	return 0;
}

/*
 * Test-only vendor profiles for the policy tests and fuzzer: builds a
 * struct vendor from the config shape ({"name", "accounts": {region:
 * account}, "require": [{"label", "actions", "condition"}]}) so the tests
 * do not depend on the builtin table in vendor.c.
 */
#ifndef POLICY_TESTVENDOR_H
#define POLICY_TESTVENDOR_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../lib/vendor.h"

/* Gearset's profile as its BYOK guide gives it. */
static const char tv_gearset_json[] =
    "{\"name\": \"gearset\","
    " \"accounts\": {\"eu-west-1\": \"347752291521\","
    "  \"us-west-2\": \"157764733222\", \"ap-southeast-2\": \"178658833999\","
    "  \"ca-central-1\": \"877694686213\"},"
    " \"require\": ["
    "  {\"label\": \"use of the key\", \"actions\": [\"kms:Encrypt\","
    "   \"kms:Decrypt\", \"kms:ReEncrypt*\", \"kms:GenerateDataKey*\","
    "   \"kms:DescribeKey\"]},"
    "  {\"label\": \"attachment of persistent resources\", \"actions\":"
    "   [\"kms:CreateGrant\", \"kms:ListGrants\", \"kms:RevokeGrant\"],"
    "   \"condition\": {\"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"}}}"
    " ]}";

__attribute__((unused)) static void
tv_free(struct vendor *v)
{
	size_t i, j;

	if (v == NULL)
		return;
	free(v->name);
	for (i = 0; i < v->naccounts; i++) {
		free(v->accounts[i].region);
		free(v->accounts[i].account);
	}
	free(v->accounts);
	for (i = 0; i < v->ngroups; i++) {
		struct vendor_group *g = &v->groups[i];

		free(g->label);
		for (j = 0; j < g->nactions; j++)
			free(g->actions[j]);
		free(g->actions);
		for (j = 0; j < g->nconds; j++) {
			free(g->conds[j].op);
			free(g->conds[j].key);
			free(g->conds[j].value);
		}
		free(g->conds);
	}
	free(v->groups);
	free(v->key_spec);
	free(v->key_usage);
	free(v);
}

__attribute__((unused)) static char *
tv_str(json_t *j)
{
	if (json_is_string(j))
		return strdup(json_string_value(j));
	if (json_is_true(j))
		return strdup("true");
	if (json_is_false(j))
		return strdup("false");
	return strdup("");
}

/* NULL when j does not have the expected shape. */
__attribute__((unused)) static struct vendor *
tv_from_json(json_t *j)
{
	struct vendor	*v;
	json_t		*acc, *req, *g, *a, *c, *kv, *val;
	const char	*k, *op, *key;
	size_t		 i, n;

	if (!json_is_object(j) || (v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->name = tv_str(json_object_get(j, "name"));
	acc = json_object_get(j, "accounts");
	req = json_object_get(j, "require");
	if (!json_is_object(acc) || !json_is_array(req))
		goto fail;
	v->accounts = calloc(json_object_size(acc) + 1, sizeof(*v->accounts));
	v->groups = calloc(json_array_size(req) + 1, sizeof(*v->groups));
	if (v->accounts == NULL || v->groups == NULL)
		goto fail;
	json_object_foreach(acc, k, a) {
		v->accounts[v->naccounts].region = strdup(k);
		v->accounts[v->naccounts++].account = tv_str(a);
	}
	json_array_foreach(req, i, g) {
		struct vendor_group *vg = &v->groups[v->ngroups++];

		a = json_object_get(g, "actions");
		if (!json_is_array(a))
			goto fail;
		vg->label = json_object_get(g, "label") ?
		    tv_str(json_object_get(g, "label")) : NULL;
		vg->actions = calloc(json_array_size(a) + 1, sizeof(char *));
		if (vg->actions == NULL)
			goto fail;
		json_array_foreach(a, n, val)
			vg->actions[vg->nactions++] = tv_str(val);
		c = json_object_get(g, "condition");
		if (c == NULL)
			continue;
		n = 0;
		json_object_foreach(c, op, kv)
			n += json_object_size(kv);
		if ((vg->conds = calloc(n + 1, sizeof(*vg->conds))) == NULL)
			goto fail;
		json_object_foreach(c, op, kv) {
			json_object_foreach(kv, key, val) {
				struct vendor_cond *vc = &vg->conds[vg->nconds++];

				vc->op = strdup(op);
				vc->key = strdup(key);
				vc->value = tv_str(val);
			}
		}
	}
	return v;
fail:
	tv_free(v);
	return NULL;
}

__attribute__((unused)) static struct vendor *
tv_gearset(void)
{
	json_t		*j;
	struct vendor	*v;

	if ((j = json_loads(tv_gearset_json, 0, NULL)) == NULL)
		return NULL;
	v = tv_from_json(j);
	json_decref(j);
	return v;
}

#endif

/*
 * Vendor profiles.  The facts themselves live in YAML files (see
 * vendor.h); what is here is what every reader of a profile needs.
 */
#include <stdlib.h>
#include <string.h>

#include "vendor.h"

#ifndef KEYHEALTHD_VENDOR_DIR
#define KEYHEALTHD_VENDOR_DIR	"/usr/local/share/keyhealthd/vendors"
#endif

const char *
vendor_dir(void)
{
	const char	*env = getenv("KEYHEALTHD_VENDOR_DIR");

	return env != NULL && env[0] != '\0' ? env : KEYHEALTHD_VENDOR_DIR;
}

const char *
vendor_account(const struct vendor *v, const char *region)
{
	size_t	i;

	for (i = 0; i < v->naccounts; i++)
		if (strcmp(v->accounts[i].region, region) == 0)
			return v->accounts[i].account;
	return NULL;
}

static int
vendor_str_same(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int
vendor_group_same(const struct vendor_group *a, const struct vendor_group *b)
{
	size_t	i;

	if (a->nactions != b->nactions || a->nconds != b->nconds)
		return 0;
	for (i = 0; i < a->nactions; i++)
		if (!vendor_str_same(a->actions[i], b->actions[i]))
			return 0;
	for (i = 0; i < a->nconds; i++)
		if (!vendor_str_same(a->conds[i].op, b->conds[i].op) ||
		    !vendor_str_same(a->conds[i].key, b->conds[i].key) ||
		    !vendor_str_same(a->conds[i].value, b->conds[i].value))
			return 0;
	return vendor_str_same(a->label, b->label);
}

int
vendor_same(const struct vendor *a, const struct vendor *b)
{
	size_t	i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->naccounts != b->naccounts || a->ngroups != b->ngroups ||
	    !vendor_str_same(a->key_spec, b->key_spec) ||
	    !vendor_str_same(a->key_usage, b->key_usage))
		return 0;
	for (i = 0; i < a->naccounts; i++)
		if (!vendor_str_same(a->accounts[i].region,
		    b->accounts[i].region) ||
		    !vendor_str_same(a->accounts[i].account,
		    b->accounts[i].account))
			return 0;
	for (i = 0; i < a->ngroups; i++)
		if (!vendor_group_same(&a->groups[i], &b->groups[i]))
			return 0;
	return 1;
}

void
vendor_free(struct vendor *v)
{
	size_t	i, j;

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
	free(v->source);
	free(v->date);
	free(v->origin);
	free(v);
}

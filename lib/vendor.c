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

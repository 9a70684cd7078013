/*
 * Builtin vendor profiles.  The Gearset data is from its BYOK guide: the
 * AWS account per hosting region and the two key policy statements it asks
 * customers to add.
 */
#include <stdlib.h>
#include <string.h>

#include "vendor.h"

struct vendor_spec {
	const char	*name;
	const char	*accounts[8][2];	/* region, account; NULL ends */
	const char	*key_spec;
	const char	*key_usage;
};

static const struct vendor_spec vendor_specs[] = {
	{ "gearset", {
		{ "eu-west-1", "347752291521" },
		{ "us-west-2", "157764733222" },
		{ "ap-southeast-2", "178658833999" },
		{ "ca-central-1", "877694686213" },
		{ NULL, NULL } },
	  "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT" },
};

static const char * const vendor_names[] = { "gearset", NULL };

/* Both statements of the guide, shared by every builtin profile so far. */
static const char * const vendor_use_actions[] = {
	"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
	"kms:DescribeKey", NULL
};
static const char * const vendor_grant_actions[] = {
	"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant", NULL
};

const char * const *
vendor_builtin_names(void)
{
	return vendor_names;
}

static int
vendor_group_fill(struct vendor_group *g, const char *label,
    const char * const *actions)
{
	size_t	n;

	for (n = 0; actions[n] != NULL; n++)
		;
	if ((g->label = strdup(label)) == NULL)
		return -1;
	if ((g->actions = calloc(n, sizeof(*g->actions))) == NULL)
		return -1;
	for (g->nactions = 0; g->nactions < n; g->nactions++)
		if ((g->actions[g->nactions] =
		    strdup(actions[g->nactions])) == NULL)
			return -1;
	return 0;
}

struct vendor *
vendor_builtin(const char *name)
{
	const struct vendor_spec	*spec = NULL;
	struct vendor			*v;
	struct vendor_cond		*c;
	size_t				 i, n;

	for (i = 0; i < sizeof(vendor_specs) / sizeof(vendor_specs[0]); i++)
		if (strcmp(vendor_specs[i].name, name) == 0)
			spec = &vendor_specs[i];
	if (spec == NULL)
		return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	if ((v->name = strdup(spec->name)) == NULL)
		goto fail;
	for (n = 0; spec->accounts[n][0] != NULL; n++)
		;
	if ((v->accounts = calloc(n, sizeof(*v->accounts))) == NULL)
		goto fail;
	for (v->naccounts = 0; v->naccounts < n; v->naccounts++) {
		struct vendor_account *a = &v->accounts[v->naccounts];

		a->region = strdup(spec->accounts[v->naccounts][0]);
		a->account = strdup(spec->accounts[v->naccounts][1]);
		if (a->region == NULL || a->account == NULL) {
			v->naccounts++;
			goto fail;
		}
	}
	if ((v->groups = calloc(2, sizeof(*v->groups))) == NULL)
		goto fail;
	v->ngroups = 2;
	if (vendor_group_fill(&v->groups[0], "use of the key",
	    vendor_use_actions) == -1 ||
	    vendor_group_fill(&v->groups[1],
	    "attachment of persistent resources", vendor_grant_actions) == -1)
		goto fail;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	v->groups[1].conds = c;
	v->groups[1].nconds = 1;
	c->op = strdup("Bool");
	c->key = strdup("kms:GrantIsForAWSResource");
	c->value = strdup("true");
	if (c->op == NULL || c->key == NULL || c->value == NULL)
		goto fail;
	if ((v->key_spec = strdup(spec->key_spec)) == NULL ||
	    (v->key_usage = strdup(spec->key_usage)) == NULL)
		goto fail;
	return v;
fail:
	vendor_free(v);
	return NULL;
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
	free(v);
}

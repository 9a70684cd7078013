/*
 * The canonical form of a key policy and a statement-level diff between
 * two (lib/policy, policy.h): what a baseline comparison shows.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "policy.h"
#include "policy_int.h"

static int
strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Sorts and removes duplicates: lists in policies are sets. */
static void
strv_sort_uniq(struct policy_strv *sv)
{
	size_t i, j;

	if (sv->n < 2)
		return;
	qsort(sv->v, sv->n, sizeof(*sv->v), strv_cmp);
	for (i = 1, j = 1; i < sv->n; i++) {
		if (strcmp(sv->v[i], sv->v[j - 1]) == 0)
			free(sv->v[i]);
		else
			sv->v[j++] = sv->v[i];
	}
	sv->n = j;
}

static int
strv_has(const struct policy_strv *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ---- canonical form ---- */

struct ccond {
	char			*op;	/* operator in its documented spelling */
	char			*key;	/* lower-cased */
	const char		*shown;	/* the key as written, for diff lines */
	struct policy_strv	 values;	/* sorted set */
};

struct cstmt {
	const struct policy_stmt *st;
	struct policy_strv	 actions;	/* lower-cased sorted set */
	struct policy_strv	 principals;	/* "*" or "Type:value" */
	struct policy_strv	 resources;
	struct ccond		*conds;
	size_t			 nconds;
	json_t			*json;
	char			*text;		/* compact canonical JSON */
	int			 matched;
};

static void
cstmt_clear(struct cstmt *c)
{
	size_t i;

	policy_strv_clear(&c->actions);
	policy_strv_clear(&c->principals);
	policy_strv_clear(&c->resources);
	for (i = 0; i < c->nconds; i++) {
		free(c->conds[i].op);
		free(c->conds[i].key);
		policy_strv_clear(&c->conds[i].values);
	}
	free(c->conds);
	json_decref(c->json);
	free(c->text);
	memset(c, 0, sizeof(*c));
}

static const char *
principal_type_name(enum policy_principal_type t)
{
	switch (t) {
	case POLICY_PRINCIPAL_SERVICE:		return "Service";
	case POLICY_PRINCIPAL_FEDERATED:	return "Federated";
	case POLICY_PRINCIPAL_CANONICAL_USER:	return "CanonicalUser";
	default:				return "AWS";
	}
}

static json_t *
strv_json(const struct policy_strv *sv, size_t skip)
{
	json_t	*a;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < sv->n; i++)
		if (json_array_append_new(a, json_string(sv->v[i] + skip)) == -1) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int
cond_cmp(const void *a, const void *b)
{
	const struct ccond *x = a, *y = b;
	int r;

	if ((r = strcmp(x->op, y->op)) != 0)
		return r;
	return strcmp(x->key, y->key);
}

static int
cstmt_build(const struct policy_stmt *st, struct cstmt *c)
{
	json_t		*o = NULL, *pj = NULL, *cj = NULL, *opj, *arr;
	char		*s, acct[16];
	size_t		 i, j;
	int		 any = 0;

	memset(c, 0, sizeof(*c));
	c->st = st;
	for (i = 0; i < st->nactions; i++) {
		if (policy_strv_push(&c->actions, st->actions[i]) == -1)
			goto fail;
		lower(c->actions.v[c->actions.n - 1]);
	}
	strv_sort_uniq(&c->actions);
	for (i = 0; i < st->nprincipals; i++) {
		const struct policy_principal *pp = &st->principals[i];

		if (pp->type == POLICY_PRINCIPAL_ANY) {
			any = 1;
			continue;
		}
		if (pp->type == POLICY_PRINCIPAL_AWS &&
		    policy_is_account_id(pp->value)) {
			(void)snprintf(acct, sizeof(acct), "%s", pp->value);
			s = policy_asprintf("AWS:arn:aws:iam::%s:root", acct);
		} else
			s = policy_asprintf("%s:%s", principal_type_name(pp->type),
			    pp->value);
		if (s == NULL || policy_strv_push(&c->principals, s) == -1) {
			free(s);
			goto fail;
		}
		free(s);
	}
	/* "*" covers every other principal in the list. */
	if (any) {
		policy_strv_clear(&c->principals);
		if (policy_strv_push(&c->principals, "*") == -1)
			goto fail;
	}
	strv_sort_uniq(&c->principals);
	for (i = 0; i < st->nresources; i++)
		if (policy_strv_push(&c->resources, st->resources[i]) == -1)
			goto fail;
	strv_sort_uniq(&c->resources);
	if (st->nconds > 0 &&
	    (c->conds = calloc(st->nconds, sizeof(*c->conds))) == NULL)
		goto fail;
	for (i = 0; i < st->nconds; i++) {
		struct ccond *cc = &c->conds[c->nconds++];
		struct policy_opinfo oi;
		int isbool;

		isbool = 0;
		if (policy_op_lookup(st->conds[i].op, &oi) == 0) {
			/* Operators match case-insensitively: spell them one
			 * way. */
			isbool = oi.def->kind == OP_BOOL ||
			    oi.def->kind == OP_NULL;
			cc->op = policy_asprintf("%s%s%s", oi.set == SET_ANY ?
			    "ForAnyValue:" : oi.set == SET_ALL ?
			    "ForAllValues:" : "", oi.def->name,
			    oi.ifexists ? "IfExists" : "");
		} else
			cc->op = strdup(st->conds[i].op);
		cc->shown = st->conds[i].key;
		if (cc->op == NULL ||
		    (cc->key = strdup(st->conds[i].key)) == NULL)
			goto fail;
		lower(cc->key);
		for (j = 0; j < st->conds[i].nvalues; j++) {
			if (policy_strv_push(&cc->values, st->conds[i].values[j]) == -1)
				goto fail;
			if (isbool)
				lower(cc->values.v[cc->values.n - 1]);
		}
		strv_sort_uniq(&cc->values);
	}
	if (c->nconds > 1)
		qsort(c->conds, c->nconds, sizeof(*c->conds), cond_cmp);

	if ((o = json_object()) == NULL)
		goto fail;
	if (st->sid != NULL &&
	    json_object_set_new(o, "Sid", json_string(st->sid)) == -1)
		goto fail;
	if (json_object_set_new(o, "Effect", json_string(st->effect ==
	    POLICY_ALLOW ? "Allow" : "Deny")) == -1)
		goto fail;
	if (c->principals.n == 1 && strcmp(c->principals.v[0], "*") == 0)
		pj = json_string("*");
	else {
		if ((pj = json_object()) == NULL)
			goto fail;
		for (i = 0; i < c->principals.n; i++) {
			char *colon = strchr(c->principals.v[i], ':');

			*colon = '\0';
			arr = json_object_get(pj, c->principals.v[i]);
			if (arr == NULL) {
				arr = json_array();
				if (json_object_set_new(pj, c->principals.v[i],
				    arr) == -1) {
					*colon = ':';
					goto fail;
				}
			}
			*colon = ':';
			if (json_array_append_new(arr, json_string(colon + 1))
			    == -1)
				goto fail;
		}
	}
	if (json_object_set_new(o, st->not_principal ? "NotPrincipal" :
	    "Principal", pj) == -1) {
		pj = NULL;
		goto fail;
	}
	pj = NULL;
	if (json_object_set_new(o, st->not_action ? "NotAction" : "Action",
	    strv_json(&c->actions, 0)) == -1)
		goto fail;
	if (st->has_resource && json_object_set_new(o, st->not_resource ?
	    "NotResource" : "Resource", strv_json(&c->resources, 0)) == -1)
		goto fail;
	if (c->nconds > 0) {
		if ((cj = json_object()) == NULL)
			goto fail;
		for (i = 0; i < c->nconds; i++) {
			opj = json_object_get(cj, c->conds[i].op);
			if (opj == NULL) {
				opj = json_object();
				if (json_object_set_new(cj, c->conds[i].op,
				    opj) == -1)
					goto fail;
			}
			/* Keys differing only in case: both must hold. */
			if (json_object_get(opj, c->conds[i].key) != NULL)
				continue;
			if (json_object_set_new(opj, c->conds[i].key,
			    strv_json(&c->conds[i].values, 0)) == -1)
				goto fail;
		}
		if (json_object_set_new(o, "Condition", cj) == -1) {
			cj = NULL;
			goto fail;
		}
		cj = NULL;
	}
	c->json = o;
	if ((c->text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		goto fail;
	return 0;
fail:
	json_decref(pj);
	json_decref(cj);
	if (c->json == NULL)
		json_decref(o);
	cstmt_clear(c);
	return -1;
}

static int
cstmt_cmp(const void *a, const void *b)
{
	const struct cstmt *x = a, *y = b;
	int xs = x->st->sid != NULL, ys = y->st->sid != NULL, r;

	if (xs != ys)
		return ys - xs;
	if (xs && (r = strcmp(x->st->sid, y->st->sid)) != 0)
		return r;
	return strcmp(x->text, y->text);
}

static struct cstmt *
cstmts_build(const struct policy *p)
{
	struct cstmt	*cs;
	size_t		 i;

	if ((cs = calloc(p->nstmts + 1, sizeof(*cs))) == NULL)
		return NULL;
	for (i = 0; i < p->nstmts; i++)
		if (cstmt_build(&p->stmts[i], &cs[i]) == -1) {
			while (i-- > 0)
				cstmt_clear(&cs[i]);
			free(cs);
			return NULL;
		}
	return cs;
}

static void
cstmts_free(struct cstmt *cs, size_t n)
{
	size_t i;

	if (cs == NULL)
		return;
	for (i = 0; i < n; i++)
		cstmt_clear(&cs[i]);
	free(cs);
}

char *
policy_canonical(const struct policy *p)
{
	struct cstmt	*cs;
	json_t		*root = NULL, *arr;
	char		*text = NULL;
	size_t		 i;

	if (p == NULL || (cs = cstmts_build(p)) == NULL)
		return NULL;
	if (p->nstmts > 1)
		qsort(cs, p->nstmts, sizeof(*cs), cstmt_cmp);
	if ((root = json_object()) == NULL || (arr = json_array()) == NULL)
		goto out;
	if (json_object_set_new(root, "Statement", arr) == -1)
		goto out;
	/* An absent Version means the old default. */
	if (json_object_set_new(root, "Version", json_string(p->version ?
	    p->version : "2008-10-17")) == -1)
		goto out;
	if (p->id != NULL &&
	    json_object_set_new(root, "Id", json_string(p->id)) == -1)
		goto out;
	for (i = 0; i < p->nstmts; i++)
		if (json_array_append(arr, cs[i].json) == -1)
			goto out;
	text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
out:
	json_decref(root);
	cstmts_free(cs, p->nstmts);
	return text;
}

int
policy_equal(const struct policy *a, const struct policy *b)
{
	char	*x, *y;
	int	 r = -1;

	x = policy_canonical(a);
	y = policy_canonical(b);
	if (x != NULL && y != NULL)
		r = strcmp(x, y) == 0;
	free(x);
	free(y);
	return r;
}

/* ---- diff ---- */

struct lines {
	struct policy_strv	sv;
	int			failed;
};

static void
line_add(struct lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
line_add(struct lines *l, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		l->failed = 1;
		return;
	}
	if (policy_strv_push(&l->sv, s) == -1)
		l->failed = 1;
	free(s);
}

static void
cstmt_name(const struct cstmt *c, char *buf, size_t len)
{
	policy_stmt_name(c->st, buf, len);
}

/* An element as the policy spells it (actions are compared lower-cased). */
static const char *
shown(const char *canon, char * const *orig, size_t norig)
{
	size_t i;

	for (i = 0; i < norig; i++)
		if (strcasecmp(orig[i], canon) == 0)
			return orig[i];
	return canon;
}

static void
diff_sets(struct lines *l, const char *name, const char *what,
    const struct policy_strv *a, const struct policy_strv *b,
    char * const *oa, size_t noa, char * const *ob, size_t nob)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (!strv_has(b, a->v[i]))
			line_add(l, "%s: %s %s removed", name, what,
			    shown(a->v[i], oa, noa));
	for (i = 0; i < b->n; i++)
		if (!strv_has(a, b->v[i]))
			line_add(l, "%s: %s %s added", name, what,
			    shown(b->v[i], ob, nob));
}

static void
values_text(const struct policy_strv *sv, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	if (sv->n != 1)
		policy_bufcat(buf, len, "[");
	for (i = 0; i < sv->n; i++)
		policy_bufcat(buf, len, "%s%s", i ? ", " : "", sv->v[i]);
	if (sv->n != 1)
		policy_bufcat(buf, len, "]");
}

/* Principal set entries are "Type:value"; show AWS ones bare. */
static void
principals_display(const struct policy_strv *in, struct policy_strv *out)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		(void)policy_strv_push(out, strncmp(in->v[i], "AWS:", 4) == 0 ?
		    in->v[i] + 4 : in->v[i]);
}

static void
diff_stmt(struct lines *l, const struct cstmt *a, const struct cstmt *b)
{
	char		 name[128], va[512], vb[512];
	struct policy_strv	 pa = { 0 }, pb = { 0 };
	size_t		 i, j;
	int		 found;

	cstmt_name(b, name, sizeof(name));
	if (a->st->effect != b->st->effect)
		line_add(l, "%s: effect changed from %s to %s", name,
		    a->st->effect == POLICY_ALLOW ? "Allow" : "Deny",
		    b->st->effect == POLICY_ALLOW ? "Allow" : "Deny");
	principals_display(&a->principals, &pa);
	principals_display(&b->principals, &pb);
	if (a->st->not_principal != b->st->not_principal) {
		values_text(&pb, vb, sizeof(vb));
		line_add(l, "%s: %s changed to %s %s", name,
		    a->st->not_principal ? "NotPrincipal" : "Principal",
		    b->st->not_principal ? "NotPrincipal" : "Principal", vb);
	} else
		diff_sets(l, name, b->st->not_principal ? "not-principal" :
		    "principal", &pa, &pb, NULL, 0, NULL, 0);
	policy_strv_clear(&pa);
	policy_strv_clear(&pb);
	if (a->st->not_action != b->st->not_action) {
		values_text(&b->actions, vb, sizeof(vb));
		line_add(l, "%s: %s changed to %s %s", name,
		    a->st->not_action ? "NotAction" : "Action",
		    b->st->not_action ? "NotAction" : "Action", vb);
	} else
		diff_sets(l, name, b->st->not_action ? "not-action" : "action",
		    &a->actions, &b->actions, a->st->actions, a->st->nactions,
		    b->st->actions, b->st->nactions);
	if (a->st->has_resource != b->st->has_resource ||
	    a->st->not_resource != b->st->not_resource) {
		values_text(&b->resources, vb, sizeof(vb));
		line_add(l, "%s: resource element changed to %s %s", name,
		    !b->st->has_resource ? "(none)" : b->st->not_resource ?
		    "NotResource" : "Resource", b->st->has_resource ? vb : "");
	} else
		diff_sets(l, name, b->st->not_resource ? "not-resource" :
		    "resource", &a->resources, &b->resources, NULL, 0, NULL, 0);
	for (i = 0; i < a->nconds; i++) {
		for (j = 0, found = 0; j < b->nconds && !found; j++) {
			if (strcmp(a->conds[i].op, b->conds[j].op) != 0 ||
			    strcmp(a->conds[i].key, b->conds[j].key) != 0)
				continue;
			found = 1;
			values_text(&a->conds[i].values, va, sizeof(va));
			values_text(&b->conds[j].values, vb, sizeof(vb));
			if (strcmp(va, vb) != 0)
				line_add(l, "%s: condition %s %s changed from "
				    "%s to %s", name, b->conds[j].op,
				    b->conds[j].shown, va, vb);
		}
		if (!found) {
			values_text(&a->conds[i].values, va, sizeof(va));
			line_add(l, "%s: condition %s %s %s removed", name,
			    a->conds[i].op, a->conds[i].shown, va);
		}
	}
	for (j = 0; j < b->nconds; j++) {
		for (i = 0, found = 0; i < a->nconds && !found; i++)
			found = strcmp(a->conds[i].op, b->conds[j].op) == 0 &&
			    strcmp(a->conds[i].key, b->conds[j].key) == 0;
		if (!found) {
			values_text(&b->conds[j].values, vb, sizeof(vb));
			line_add(l, "%s: condition %s %s %s added", name,
			    b->conds[j].op, b->conds[j].shown, vb);
		}
	}
}

/* "Allow kms:decrypt, kms:encrypt for arn:...": to recognise a statement
 * without a Sid in an added/removed line. */
static void
stmt_summary(const struct cstmt *c, char *buf, size_t len)
{
	struct policy_strv	p = { 0 };
	char			acts[256], prs[256];

	principals_display(&c->principals, &p);
	values_text(&c->actions, acts, sizeof(acts));
	values_text(&p, prs, sizeof(prs));
	policy_strv_clear(&p);
	(void)snprintf(buf, len, " (%s%s %s for %s%s)",
	    c->st->effect == POLICY_ALLOW ? "Allow" : "Deny",
	    c->st->not_action ? " all but" : "", acts,
	    c->st->not_principal ? "all but " : "", prs);
}

int
policy_diff(const struct policy *a, const struct policy *b, char ***lines,
    size_t *nlines)
{
	struct cstmt	*ca = NULL, *cb = NULL;
	struct lines	 l = { { 0 }, 0 };
	char		 name[128], summ[600];
	size_t		 i, j;

	if (lines == NULL || nlines == NULL)
		return -1;
	*lines = NULL;
	*nlines = 0;
	if (a == NULL || b == NULL)
		return -1;
	if ((ca = cstmts_build(a)) == NULL || (cb = cstmts_build(b)) == NULL)
		goto fail;

	if (strcmp(a->version ? a->version : "2008-10-17",
	    b->version ? b->version : "2008-10-17") != 0)
		line_add(&l, "Version changed from %s to %s",
		    a->version ? a->version : "(none)",
		    b->version ? b->version : "(none)");
	if ((a->id == NULL) != (b->id == NULL) ||
	    (a->id != NULL && strcmp(a->id, b->id) != 0))
		line_add(&l, "Id changed from %s to %s",
		    a->id ? a->id : "(none)", b->id ? b->id : "(none)");

	/* Identical statements need no pairing (this also keeps duplicate
	 * Sids apart)... */
	for (i = 0; i < a->nstmts; i++) {
		for (j = 0; j < b->nstmts; j++) {
			if (cb[j].matched || strcmp(ca[i].text, cb[j].text) != 0)
				continue;
			ca[i].matched = cb[j].matched = 1;
			break;
		}
	}
	/* ...same Sid: the same statement, compare its parts. */
	for (i = 0; i < a->nstmts; i++) {
		if (ca[i].matched || ca[i].st->sid == NULL)
			continue;
		for (j = 0; j < b->nstmts; j++) {
			if (cb[j].matched || cb[j].st->sid == NULL ||
			    strcmp(ca[i].st->sid, cb[j].st->sid) != 0)
				continue;
			ca[i].matched = cb[j].matched = 1;
			diff_stmt(&l, &ca[i], &cb[j]);
			break;
		}
	}
	/* Without Sids, the rest pair up in order, as edits of each other. */
	for (i = 0, j = 0; i < a->nstmts; i++) {
		if (ca[i].matched || ca[i].st->sid != NULL)
			continue;
		while (j < b->nstmts && (cb[j].matched || cb[j].st->sid != NULL))
			j++;
		if (j == b->nstmts)
			break;
		ca[i].matched = cb[j].matched = 1;
		diff_stmt(&l, &ca[i], &cb[j]);
	}
	for (i = 0; i < a->nstmts; i++) {
		if (ca[i].matched)
			continue;
		cstmt_name(&ca[i], name, sizeof(name));
		stmt_summary(&ca[i], summ, sizeof(summ));
		line_add(&l, "%s removed%s", name, summ);
	}
	for (j = 0; j < b->nstmts; j++) {
		if (cb[j].matched)
			continue;
		cstmt_name(&cb[j], name, sizeof(name));
		stmt_summary(&cb[j], summ, sizeof(summ));
		line_add(&l, "%s added%s", name, summ);
	}
	if (l.failed)
		goto fail;
	cstmts_free(ca, a->nstmts);
	cstmts_free(cb, b->nstmts);
	*lines = l.sv.v;
	*nlines = l.sv.n;
	return 0;
fail:
	cstmts_free(ca, a->nstmts);
	if (cb != NULL)
		cstmts_free(cb, b->nstmts);
	policy_strv_clear(&l.sv);
	return -1;
}

void
policy_diff_free(char **lines, size_t nlines)
{
	size_t i;

	if (lines == NULL)
		return;
	for (i = 0; i < nlines; i++)
		free(lines[i]);
	free(lines);
}

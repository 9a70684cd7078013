/*
 * AWS KMS key policy evaluation (lib/policy, policy.h): a request against
 * the parsed policy, and the vendor question.
 *
 * Every decision is three-valued (no / yes / cannot tell) because a
 * monitor that guesses pages people for nothing, or stays quiet while the
 * vendor's backups fail.  A statement "cannot tell" when it depends on a
 * condition key whose value is not known for the request, or on an
 * operator this file does not implement.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy.h"
#include "policy_int.h"
#include "vendor.h"

enum tri {
	T_NO,
	T_YES,
	T_UNK
};

static enum tri
tri_and(enum tri a, enum tri b)
{
	if (a == T_NO || b == T_NO)
		return T_NO;
	if (a == T_UNK || b == T_UNK)
		return T_UNK;
	return T_YES;
}

static enum tri
tri_not(enum tri a)
{
	if (a == T_UNK)
		return T_UNK;
	return a == T_YES ? T_NO : T_YES;
}

/*
 * Splits an ARN into its fields; returns 0 when s has the six fields.
 * The pointers point into buf.
 */
struct arn_parts {
	char	 buf[512];
	char	*partition, *service, *region, *account, *resource;
};

static int
arn_split(const char *s, struct arn_parts *a)
{
	char	*f[6];
	char	*p;
	int	 i;

	if (strncmp(s, "arn:", 4) != 0 || strlen(s) >= sizeof(a->buf))
		return -1;
	memcpy(a->buf, s, strlen(s) + 1);
	p = a->buf;
	for (i = 0; i < 5; i++) {
		f[i] = p;
		if ((p = strchr(p, ':')) == NULL)
			return -1;
		*p++ = '\0';
	}
	f[5] = p;
	a->partition = f[1];
	a->service = f[2];
	a->region = f[3];
	a->account = f[4];
	a->resource = f[5];
	return 0;
}

/* ---- evaluation ---- */

/* What a request principal is, for matching policy principals. */
struct reqprin {
	const char	*text;
	char		 account[16];	/* "" when not an AWS principal */
	int		 root;		/* the account itself */
	int		 service;
};

static void
reqprin_init(struct reqprin *rp, const char *p)
{
	struct arn_parts a;

	memset(rp, 0, sizeof(*rp));
	rp->text = p;
	if (policy_is_account_id(p)) {
		(void)snprintf(rp->account, sizeof(rp->account), "%s", p);
		rp->root = 1;
	} else if (arn_split(p, &a) == 0) {
		if (policy_is_account_id(a.account))
			(void)snprintf(rp->account, sizeof(rp->account), "%s",
			    a.account);
		rp->root = (strcmp(a.service, "iam") == 0 &&
		    strcmp(a.resource, "root") == 0);
	} else if (strncmp(p, "arn:", 4) != 0)
		rp->service = 1;
}

/* The account of an account principal ("N" or arn:...:iam::N:root). */
static int
principal_account(const char *v, char *acct, size_t len)
{
	struct arn_parts a;

	if (policy_is_account_id(v)) {
		(void)snprintf(acct, len, "%s", v);
		return 1;
	}
	if (arn_split(v, &a) == 0 && strcmp(a.service, "iam") == 0 &&
	    strcmp(a.resource, "root") == 0 && policy_is_account_id(a.account)) {
		(void)snprintf(acct, len, "%s", a.account);
		return 1;
	}
	return 0;
}

/*
 * Does one policy principal name the request principal?  An account
 * principal delegates to the account's IAM, so it covers principals inside
 * it when exact is 0 (Principal); NotPrincipal only excludes the very
 * principal it names (exact 1), as IAM does.
 */
static int
principal_matches(const struct policy_principal *pp, const struct reqprin *rp,
    int exact)
{
	char acct[16];

	switch (pp->type) {
	case POLICY_PRINCIPAL_ANY:
		return 1;
	case POLICY_PRINCIPAL_AWS:
		if (rp->service)
			return 0;
		if (principal_account(pp->value, acct, sizeof(acct)))
			return strcmp(acct, rp->account) == 0 &&
			    (!exact || rp->root);
		return strcmp(pp->value, rp->text) == 0;
	case POLICY_PRINCIPAL_SERVICE:
		return rp->service && strcasecmp(pp->value, rp->text) == 0;
	default:
		return 0;
	}
}

/*
 * How well a statement for other principals explains a denial: 2 when it
 * names a principal in the request's account (a role instead of the root),
 * 1 when it names another account than the key owner's (a wrong account),
 * 0 otherwise.
 */
static int
stmt_rank(const struct policy_stmt *st, const struct reqprin *rp,
    const char *owner)
{
	struct arn_parts	 a;
	const char		*acct;
	size_t			 i;
	int			 rank = 0;

	if (st->not_principal)
		return 0;
	for (i = 0; i < st->nprincipals; i++) {
		const char *v = st->principals[i].value;

		if (st->principals[i].type != POLICY_PRINCIPAL_AWS)
			continue;
		if (policy_is_account_id(v))
			acct = v;
		else if (arn_split(v, &a) == 0)
			acct = a.account;
		else
			continue;
		if (rp->account[0] != '\0' && strcmp(acct, rp->account) == 0)
			return 2;
		if (owner == NULL || strcmp(acct, owner) != 0)
			rank = 1;
	}
	return rank;
}

static enum tri
stmt_principal(const struct policy_stmt *st, const struct reqprin *rp)
{
	size_t i;

	for (i = 0; i < st->nprincipals; i++)
		if (principal_matches(&st->principals[i], rp, st->not_principal))
			return st->not_principal ? T_NO : T_YES;
	return st->not_principal ? T_YES : T_NO;
}

static enum tri
stmt_action(const struct policy_stmt *st, const char *action)
{
	size_t i;

	for (i = 0; i < st->nactions; i++)
		if (policy_match(st->actions[i], action, 1))
			return st->not_action ? T_NO : T_YES;
	return st->not_action ? T_YES : T_NO;
}

static enum tri
stmt_resource(const struct policy_stmt *st, const char *key_arn)
{
	enum tri	r = T_NO;
	size_t		i;

	if (!st->has_resource)
		return T_YES;
	for (i = 0; i < st->nresources && r != T_YES; i++) {
		if (strcmp(st->resources[i], "*") == 0)
			r = T_YES;
		else if (key_arn == NULL)
			r = T_UNK;	/* a named key; which one is this? */
		else if (policy_match(st->resources[i], key_arn, 0))
			r = T_YES;
	}
	return st->not_resource ? tri_not(r) : r;
}

/* ---- conditions ---- */

static int
parse_num(const char *s, double *d)
{
	char *end;

	errno = 0;
	*d = strtod(s, &end);
	return (end == s || *end != '\0' || errno != 0) ? -1 : 0;
}

/* Epoch seconds, or ISO 8601 "YYYY-MM-DD[THH:MM[:SS][Z]]". */
static int
parse_date(const char *s, double *d)
{
	struct tm	tm;
	int		Y, M, D, h = 0, m = 0, sec = 0, n = 0;
	time_t		t;

	if (parse_num(s, d) == 0)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3)
		return -1;
	s += n;
	if (*s == 'T') {
		n = 0;
		if (sscanf(s, "T%2d:%2d%n", &h, &m, &n) != 2)
			return -1;
		s += n;
		if (*s == ':') {
			n = 0;
			if (sscanf(s, ":%2d%n", &sec, &n) != 1)
				return -1;
			s += n;
		}
		if (*s == '.')
			for (s++; isdigit((unsigned char)*s); s++)
				;
		if (*s == 'Z')
			s++;
	}
	if (*s != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 ||
	    m > 59 || sec > 60)
		return -1;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*d = (double)t;
	return 0;
}

/* Does the context value cv match the policy value pv, positively? */
static int
value_matches(enum policy_opkind k, const char *pv, const char *cv)
{
	double a, b;

	switch (k) {
	case OP_STR_EQ:
		return strcmp(pv, cv) == 0;
	case OP_STR_EQ_I:
		return strcasecmp(pv, cv) == 0;
	case OP_STR_LIKE:
	case OP_ARN_LIKE:
		return policy_match(pv, cv, 0);
	case OP_BOOL:
		if (strcasecmp(pv, "true") != 0 && strcasecmp(pv, "false") != 0)
			return 0;
		return strcasecmp(pv, cv) == 0;
	case OP_NUM_EQ: case OP_NUM_LT: case OP_NUM_LE: case OP_NUM_GT:
	case OP_NUM_GE:
		if (parse_num(pv, &a) == -1 || parse_num(cv, &b) == -1)
			return 0;
		break;
	case OP_DATE_EQ: case OP_DATE_LT: case OP_DATE_LE: case OP_DATE_GT:
	case OP_DATE_GE:
		if (parse_date(pv, &a) == -1 || parse_date(cv, &b) == -1)
			return 0;
		break;
	default:
		return 0;
	}
	/* b is the request's value, a the policy's: "request < policy". */
	switch (k) {
	case OP_NUM_EQ: case OP_DATE_EQ:	return b == a;
	case OP_NUM_LT: case OP_DATE_LT:	return b < a;
	case OP_NUM_LE: case OP_DATE_LE:	return b <= a;
	case OP_NUM_GT: case OP_DATE_GT:	return b > a;
	case OP_NUM_GE: case OP_DATE_GE:	return b >= a;
	default:				return 0;
	}
}

/* One request value against the operator: any policy value matches
 * (positive) or none does (negated). */
static int
value_satisfies(const struct policy_opinfo *oi, const struct policy_cond *c,
    const char *cv)
{
	size_t	i;
	int	m = 0;

	for (i = 0; i < c->nvalues && !m; i++)
		m = value_matches(oi->def->kind, c->values[i], cv);
	return oi->def->negated ? !m : m;
}

enum ctxstate {
	CTX_ABSENT,
	CTX_PRESENT,
	CTX_UNKNOWN
};

static enum ctxstate
ctx_lookup(const struct policy_request *req, const char *key,
    const char **vals, size_t maxvals, size_t *nvals)
{
	size_t	i;
	int	found = 0;

	*nvals = 0;
	for (i = 0; i < req->nctx; i++) {
		if (req->ctx[i].key == NULL ||
		    strcasecmp(req->ctx[i].key, key) != 0)
			continue;
		found = 1;
		if (req->ctx[i].value != NULL && *nvals < maxvals)
			vals[(*nvals)++] = req->ctx[i].value;
	}
	if (!found)
		return req->ctx_closed ? CTX_ABSENT : CTX_UNKNOWN;
	return *nvals > 0 ? CTX_PRESENT : CTX_ABSENT;
}

static void
cond_describe(const struct policy_cond *c, char *buf, size_t len)
{
	size_t i;

	(void)snprintf(buf, len, "%s %s ", c->op, c->key);
	for (i = 0; i < c->nvalues; i++)
		policy_bufcat(buf, len, "%s\"%s\"", i ? ", " : c->nvalues > 1 ? "[" :
		    "", c->values[i]);
	if (c->nvalues > 1)
		policy_bufcat(buf, len, "]");
	if (c->nvalues == 0)
		policy_bufcat(buf, len, "[]");
}

static enum tri
cond_eval(const struct policy_cond *c, const struct policy_request *req,
    char *why, size_t whylen)
{
	struct policy_opinfo	 oi;
	const char	*vals[32];
	size_t		 nvals, i, sat;
	enum ctxstate	 st;
	char		 desc[256];

	cond_describe(c, desc, sizeof(desc));
	if (policy_op_lookup(c->op, &oi) == -1) {
		(void)snprintf(why, whylen, "it uses the condition operator "
		    "'%s', which keyhealthd does not understand", c->op);
		return T_UNK;
	}
	st = ctx_lookup(req, c->key, vals, sizeof(vals) / sizeof(vals[0]),
	    &nvals);
	if (st == CTX_UNKNOWN) {
		(void)snprintf(why, whylen, "it depends on condition %s, and "
		    "the value of %s in the request is not known", desc, c->key);
		return T_UNK;
	}
	if (oi.def->kind == OP_NULL) {
		for (i = 0; i < c->nvalues; i++) {
			if ((strcasecmp(c->values[i], "true") == 0 &&
			    st == CTX_ABSENT) ||
			    (strcasecmp(c->values[i], "false") == 0 &&
			    st == CTX_PRESENT))
				return T_YES;
		}
		(void)snprintf(why, whylen, "condition %s does not hold", desc);
		return T_NO;
	}
	if (st == CTX_ABSENT) {
		if (oi.ifexists || oi.set == SET_ALL ||
		    (oi.set == SET_NONE && oi.def->negated))
			return T_YES;
		(void)snprintf(why, whylen, "condition %s does not hold: "
		    "the request has no %s", desc, c->key);
		return T_NO;
	}
	if (oi.def->kind == OP_UNSUPPORTED) {
		(void)snprintf(why, whylen, "it uses the condition operator "
		    "'%s', which keyhealthd does not evaluate", c->op);
		return T_UNK;
	}
	for (i = 0, sat = 0; i < nvals; i++)
		sat += value_satisfies(&oi, c, vals[i]) ? 1 : 0;
	if (oi.set == SET_ALL || (oi.set == SET_NONE && oi.def->negated)) {
		if (sat == nvals)
			return T_YES;
	} else if (sat > 0)
		return T_YES;
	(void)snprintf(why, whylen, "condition %s does not hold: the "
	    "request's %s is \"%s\"", desc, c->key, vals[0]);
	return T_NO;
}

struct stmt_result {
	enum tri	action, resource, principal, cond, all;
	char		why[384];	/* when cond or resource is not YES */
};

static void
stmt_eval(const struct policy_stmt *st, const struct policy_request *req,
    const struct reqprin *rp, struct stmt_result *sr)
{
	char		why[384];
	size_t		i;
	enum tri	t;

	memset(sr, 0, sizeof(*sr));
	sr->action = stmt_action(st, req->action);
	sr->resource = stmt_resource(st, req->resource);
	sr->principal = stmt_principal(st, rp);
	sr->cond = T_YES;
	for (i = 0; i < st->nconds; i++) {
		why[0] = '\0';
		t = cond_eval(&st->conds[i], req, why, sizeof(why));
		if (t == T_NO) {
			sr->cond = T_NO;
			(void)snprintf(sr->why, sizeof(sr->why), "%s", why);
			break;
		}
		if (t == T_UNK && sr->cond == T_YES) {
			sr->cond = T_UNK;
			(void)snprintf(sr->why, sizeof(sr->why), "%s", why);
		}
	}
	if (sr->resource == T_UNK && sr->cond != T_NO && sr->cond != T_UNK)
		(void)snprintf(sr->why, sizeof(sr->why), "its Resource names a "
		    "specific key and the key ARN is not known");
	sr->all = tri_and(tri_and(sr->action, sr->resource),
	    tri_and(sr->principal, sr->cond));
}

int
policy_eval(const struct policy *p, const struct policy_request *req,
    struct policy_decision *out)
{
	const struct policy_stmt *deny_yes = NULL, *deny_unk = NULL;
	const struct policy_stmt *allow_yes = NULL, *allow_unk = NULL;
	const struct policy_stmt *near_cond = NULL, *near_prin = NULL;
	struct stmt_result	 sr;
	struct reqprin		 rp;
	char			 deny_why[384] = "", allow_why[384] = "";
	char			 near_why[384] = "", n1[128], n2[128];
	size_t			 i;
	int			 near_rank = 0;
	struct arn_parts	 ka;
	const char		*owner = NULL;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	if (p == NULL || req == NULL || req->principal == NULL ||
	    req->action == NULL)
		return -1;
	reqprin_init(&rp, req->principal);
	if (req->resource != NULL && arn_split(req->resource, &ka) == 0)
		owner = ka.account;
	for (i = 0; i < p->nstmts; i++) {
		const struct policy_stmt *st = &p->stmts[i];

		stmt_eval(st, req, &rp, &sr);
		if (st->effect == POLICY_DENY) {
			if (sr.all == T_YES && deny_yes == NULL)
				deny_yes = st;
			else if (sr.all == T_UNK && deny_unk == NULL) {
				deny_unk = st;
				(void)snprintf(deny_why, sizeof(deny_why), "%s",
				    sr.why);
			}
			continue;
		}
		if (sr.all == T_YES && allow_yes == NULL)
			allow_yes = st;
		else if (sr.all == T_UNK && allow_unk == NULL) {
			allow_unk = st;
			(void)snprintf(allow_why, sizeof(allow_why), "%s", sr.why);
		} else if (sr.all == T_NO && sr.action == T_YES &&
		    sr.resource != T_NO) {
			if (sr.principal == T_YES && near_cond == NULL) {
				near_cond = st;
				(void)snprintf(near_why, sizeof(near_why), "%s",
				    sr.why);
			} else if (sr.principal == T_NO &&
			    stmt_rank(st, &rp, owner) > near_rank) {
				/* A role of the same account, or another
				 * outside account, explains more than the key
				 * owner's own statements, which say nothing. */
				near_prin = st;
				near_rank = stmt_rank(st, &rp, owner);
			}
		}
	}

	if (deny_yes != NULL) {
		out->result = POLICY_EXPLICIT_DENY;
		out->deciding = deny_yes;
		out->allowing = allow_yes ? allow_yes : allow_unk;
		policy_stmt_name(deny_yes, n1, sizeof(n1));
		(void)snprintf(out->reason, sizeof(out->reason),
		    "%s denies it", n1);
		if (out->allowing != NULL) {
			policy_stmt_name(out->allowing, n2, sizeof(n2));
			policy_bufcat(out->reason, sizeof(out->reason),
			    " (overriding %s, which allows it)", n2);
		}
		return out->result;
	}
	if (allow_yes == NULL && allow_unk == NULL) {
		out->result = POLICY_IMPLICIT_DENY;
		if (near_cond != NULL) {
			out->allowing = near_cond;
			policy_stmt_name(near_cond, n1, sizeof(n1));
			(void)snprintf(out->reason, sizeof(out->reason),
			    "%s would allow it, but %s", n1, near_why);
		} else if (near_prin != NULL) {
			policy_stmt_name(near_prin, n1, sizeof(n1));
			(void)snprintf(out->reason, sizeof(out->reason),
			    "no statement allows it for this principal (%s "
			    "allows it only for %s%s)", n1,
			    near_prin->principals[0].value,
			    near_prin->nprincipals > 1 ? " and others" : "");
		} else
			(void)snprintf(out->reason, sizeof(out->reason),
			    "no statement allows it");
		return out->result;
	}
	if (deny_unk != NULL) {
		out->result = POLICY_CANNOT_TELL;
		out->deciding = deny_unk;
		out->allowing = allow_yes ? allow_yes : allow_unk;
		policy_stmt_name(deny_unk, n1, sizeof(n1));
		(void)snprintf(out->reason, sizeof(out->reason),
		    "Deny %s may apply: %s", n1, deny_why);
		return out->result;
	}
	if (allow_yes != NULL) {
		out->result = POLICY_ALLOWED;
		out->deciding = out->allowing = allow_yes;
		policy_stmt_name(allow_yes, n1, sizeof(n1));
		(void)snprintf(out->reason, sizeof(out->reason),
		    "allowed by %s", n1);
		return out->result;
	}
	out->result = POLICY_CANNOT_TELL;
	out->deciding = out->allowing = allow_unk;
	policy_stmt_name(allow_unk, n1, sizeof(n1));
	(void)snprintf(out->reason, sizeof(out->reason),
	    "only %s may allow it, and %s", n1, allow_why);
	return out->result;
}

/* ---- the vendor question ---- */


static int
is_grant_action(const char *a)
{
	return strcasecmp(a, "kms:CreateGrant") == 0 ||
	    strcasecmp(a, "kms:ListGrants") == 0 ||
	    strcasecmp(a, "kms:RevokeGrant") == 0 ||
	    strcasecmp(a, "kms:RetireGrant") == 0;
}

const char *
policy_status_name(enum policy_status s)
{
	switch (s) {
	case POLICY_STATUS_OK:		return "ok";
	case POLICY_STATUS_MISSING:	return "missing";
	default:			return "unknown";
	}
}

void
policy_verdict_free(struct policy_verdict *out)
{
	size_t i;

	if (out == NULL)
		return;
	for (i = 0; i < out->nactions; i++) {
		free(out->actions[i].action);
		free(out->actions[i].required);
		free(out->actions[i].group);
		free(out->actions[i].granted_by);
		free(out->actions[i].denied_by);
		free(out->actions[i].reason);
	}
	free(out->actions);
	free(out->principal);
	free(out->reason);
	memset(out, 0, sizeof(*out));
}

static char *
stmt_name_dup(const struct policy_stmt *st)
{
	char buf[128];

	if (st == NULL)
		return NULL;
	if (st->sid != NULL && st->sid[0] != '\0')
		return strdup(st->sid);
	policy_stmt_name(st, buf, sizeof(buf));
	return strdup(buf);
}

static int
vendor_check_action(const struct policy *p, struct policy_verdict *out,
    const struct vendor_group *g, const char *required, const char *action,
    struct policy_request *req, struct policy_ctx *ctx, size_t nbase)
{
	struct policy_action_verdict	*av, *nv;
	struct policy_decision		 d;
	size_t				 i, n = nbase;
	int				 has_grantkey = 0;

	for (i = 0; i < out->nactions; i++)
		if (strcmp(out->actions[i].action, action) == 0 &&
		    strcmp(out->actions[i].group, g->label ? g->label : "") == 0)
			return 0;
	for (i = 0; i < g->nconds; i++) {
		const struct vendor_cond *vc = &g->conds[i];

		if (vc->key == NULL)
			continue;
		if (strcasecmp(vc->key, "kms:GrantIsForAWSResource") == 0)
			has_grantkey = 1;
		ctx[n].key = vc->key;
		/* Null "true" says the request lacks the key; Null "false"
		 * only that it has some value, which stays unknown. */
		if (vc->op != NULL && strcmp(vc->op, "Null") == 0) {
			if (vc->value != NULL &&
			    strcasecmp(vc->value, "true") == 0)
				ctx[n++].value = NULL;
			continue;
		}
		ctx[n++].value = vc->value;
	}
	if (!has_grantkey && !is_grant_action(action)) {
		ctx[n].key = "kms:GrantIsForAWSResource";
		ctx[n++].value = NULL;
	}
	req->action = action;
	req->ctx = ctx;
	req->nctx = n;
	if (policy_eval(p, req, &d) == -1)
		return -1;

	if ((nv = reallocarray(out->actions, out->nactions + 1,
	    sizeof(*nv))) == NULL)
		return -1;
	out->actions = nv;
	av = &nv[out->nactions++];
	memset(av, 0, sizeof(*av));
	if ((av->action = strdup(action)) == NULL ||
	    (av->required = strdup(required)) == NULL ||
	    (av->group = strdup(g->label ? g->label : "")) == NULL)
		return -1;
	if (d.allowing != NULL &&
	    (av->granted_by = stmt_name_dup(d.allowing)) == NULL)
		return -1;
	switch (d.result) {
	case POLICY_ALLOWED:
		av->status = POLICY_STATUS_OK;
		return 0;
	case POLICY_EXPLICIT_DENY:
		if ((av->denied_by = stmt_name_dup(d.deciding)) == NULL)
			return -1;
		/* FALLTHROUGH */
	case POLICY_IMPLICIT_DENY:
		av->status = POLICY_STATUS_MISSING;
		if (d.allowing == NULL && g->label != NULL)
			av->reason = policy_asprintf("%s is not allowed for %s: %s "
			    "(the vendor needs it for %s)", action,
			    out->principal, d.reason, g->label);
		else
			av->reason = policy_asprintf("%s is not allowed for %s: %s",
			    action, out->principal, d.reason);
		break;
	default:
		av->status = POLICY_STATUS_UNKNOWN;
		av->reason = policy_asprintf("cannot tell whether %s is allowed for "
		    "%s: %s", action, out->principal, d.reason);
		break;
	}
	return av->reason == NULL ? -1 : 0;
}

int
policy_vendor_access(const struct policy *p, const struct vendor *v,
    const char *account, const char *key_arn, struct policy_verdict *out)
{
	struct policy_request	 req;
	struct policy_ctx	*ctx = NULL;
	struct arn_parts	 a;
	const char		*partition = "aws", *region = NULL;
	size_t			 g, i, k, nbase, maxc, nmissing, nunknown;
	struct policy_action_verdict *first;
	int			 matched;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	if (p == NULL || v == NULL || account == NULL)
		return -1;
	if (key_arn != NULL && arn_split(key_arn, &a) == 0) {
		partition = a.partition;
		region = a.region;
	}
	if ((out->principal = policy_asprintf("arn:%s:iam::%s:root", partition,
	    account)) == NULL)
		goto fail;

	maxc = 16;
	for (g = 0; g < v->ngroups; g++)
		if (v->groups[g].nconds + 16 > maxc)
			maxc = v->groups[g].nconds + 16;
	if ((ctx = calloc(maxc, sizeof(*ctx))) == NULL)
		goto fail;
	nbase = 0;
	ctx[nbase].key = "aws:PrincipalAccount";
	ctx[nbase++].value = account;
	ctx[nbase].key = "kms:CallerAccount";
	ctx[nbase++].value = account;
	ctx[nbase].key = "aws:userid";
	ctx[nbase++].value = account;
	ctx[nbase].key = "aws:PrincipalArn";
	ctx[nbase++].value = out->principal;
	ctx[nbase].key = "aws:PrincipalType";
	ctx[nbase++].value = "Account";
	ctx[nbase].key = "aws:PrincipalIsAWSService";
	ctx[nbase++].value = "false";
	ctx[nbase].key = "aws:SecureTransport";
	ctx[nbase++].value = "true";	/* KMS only speaks TLS */
	if (region != NULL && region[0] != '\0') {
		ctx[nbase].key = "aws:RequestedRegion";
		ctx[nbase++].value = region;
	}

	memset(&req, 0, sizeof(req));
	req.principal = out->principal;
	req.resource = key_arn;
	req.ctx_closed = 0;
	for (g = 0; g < v->ngroups; g++) {
		const struct vendor_group *grp = &v->groups[g];

		for (i = 0; i < grp->nactions; i++) {
			const char *ra = grp->actions[i];

			if (ra == NULL)
				continue;
			matched = 0;
			if (strchr(ra, '*') != NULL || strchr(ra, '?') != NULL) {
				for (k = 0; policy_kms_actions[k] != NULL;
				    k++) {
					if (!policy_match(ra, policy_kms_actions[k],
					    1))
						continue;
					matched = 1;
					if (vendor_check_action(p, out, grp, ra,
					    policy_kms_actions[k], &req, ctx,
					    nbase) == -1)
						goto fail;
				}
			}
			if (!matched && vendor_check_action(p, out, grp, ra, ra,
			    &req, ctx, nbase) == -1)
				goto fail;
		}
	}
	free(ctx);
	ctx = NULL;

	nmissing = nunknown = 0;
	first = NULL;
	for (i = 0; i < out->nactions; i++) {
		if (out->actions[i].status == POLICY_STATUS_MISSING) {
			if (nmissing++ == 0)
				first = &out->actions[i];
		}
	}
	if (nmissing == 0)
		for (i = 0; i < out->nactions; i++)
			if (out->actions[i].status == POLICY_STATUS_UNKNOWN &&
			    nunknown++ == 0)
				first = &out->actions[i];
	if (first == NULL) {
		out->status = POLICY_STATUS_OK;
		return out->status;
	}
	out->status = nmissing ? POLICY_STATUS_MISSING : POLICY_STATUS_UNKNOWN;
	{
		char	more[512] = "";
		size_t	listed = 0;

		for (i = 0; i < out->nactions; i++) {
			if (&out->actions[i] == first ||
			    out->actions[i].status != out->status)
				continue;
			if (listed == 6) {
				policy_bufcat(more, sizeof(more), ", ...");
				break;
			}
			policy_bufcat(more, sizeof(more), "%s%s", listed ? ", " : "",
			    out->actions[i].action);
			listed++;
		}
		if (listed == 0)
			out->reason = strdup(first->reason);
		else
			out->reason = policy_asprintf("%s; also %s: %s",
			    first->reason, out->status == POLICY_STATUS_MISSING ?
			    "not allowed" : "cannot tell", more);
		if (out->reason == NULL)
			goto fail;
	}
	return out->status;
fail:
	free(ctx);
	policy_verdict_free(out);
	return -1;
}

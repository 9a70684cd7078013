/*
 * AWS KMS key policies, the parsing half of lib/policy (policy.h): the IAM
 * vocabulary (KMS actions, wildcard matching, condition operators) and the
 * typed form parsed from the policy JSON.  Evaluation is policy_eval.c,
 * the canonical form and diff policy_canon.c; what the three share is in
 * policy_int.h.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "policy.h"
#include "policy_int.h"

/* ---- helpers shared by the policy files ---- */

int
policy_strv_push(struct policy_strv *sv, const char *s)
{
	char	**nv, *d;

	if ((d = strdup(s)) == NULL)
		return -1;
	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? sv->cap * 2 : 8;
		if ((nv = reallocarray(sv->v, ncap, sizeof(*nv))) == NULL) {
			free(d);
			return -1;
		}
		sv->v = nv;
		sv->cap = ncap;
	}
	sv->v[sv->n++] = d;
	return 0;
}

void
policy_strv_clear(struct policy_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

char *
policy_asprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

void
policy_bufcat(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	size_t	used = strnlen(buf, len);

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

int
policy_is_account_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return i == 12;
}

/* ---- the IAM vocabulary ---- */

/* The KMS API actions, to expand wildcard requirements ("kms:ReEncrypt*")
 * and to check a vendor's. */
const char *const policy_kms_actions[] = {
	"kms:CancelKeyDeletion", "kms:ConnectCustomKeyStore",
	"kms:CreateAlias", "kms:CreateCustomKeyStore", "kms:CreateGrant",
	"kms:CreateKey", "kms:Decrypt", "kms:DeleteAlias",
	"kms:DeleteCustomKeyStore", "kms:DeleteImportedKeyMaterial",
	"kms:DeriveSharedSecret", "kms:DescribeCustomKeyStores",
	"kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation",
	"kms:DisconnectCustomKeyStore", "kms:EnableKey",
	"kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey",
	"kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext",
	"kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateMac",
	"kms:GenerateRandom", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
	"kms:GetParametersForImport", "kms:GetPublicKey",
	"kms:ImportKeyMaterial", "kms:ListAliases", "kms:ListGrants",
	"kms:ListKeyPolicies", "kms:ListKeyRotations", "kms:ListKeys",
	"kms:ListResourceTags", "kms:ListRetirableGrants", "kms:PutKeyPolicy",
	"kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:ReplicateKey",
	"kms:RetireGrant", "kms:RevokeGrant", "kms:RotateKeyOnDemand",
	"kms:ScheduleKeyDeletion", "kms:Sign", "kms:SynchronizeMultiRegionKey",
	"kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
	"kms:UpdateCustomKeyStore", "kms:UpdateKeyDescription",
	"kms:UpdatePrimaryRegion", "kms:Verify", "kms:VerifyMac", NULL
};


int
policy_match(const char *pat, const char *s, int icase)
{
	const char	*star = NULL, *mark = NULL;

	if (pat == NULL || s == NULL)
		return 0;
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			mark = s;
		} else if (*pat == '?' || (icase ?
		    tolower((unsigned char)*pat) == tolower((unsigned char)*s) :
		    *pat == *s)) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++mark;
		} else
			return 0;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* ---- condition operators ---- */

static const struct policy_opdef opdefs[] = {
	{ "StringEquals", OP_STR_EQ, 0 },
	{ "StringNotEquals", OP_STR_EQ, 1 },
	{ "StringEqualsIgnoreCase", OP_STR_EQ_I, 0 },
	{ "StringNotEqualsIgnoreCase", OP_STR_EQ_I, 1 },
	{ "StringLike", OP_STR_LIKE, 0 },
	{ "StringNotLike", OP_STR_LIKE, 1 },
	{ "NumericEquals", OP_NUM_EQ, 0 },
	{ "NumericNotEquals", OP_NUM_EQ, 1 },
	{ "NumericLessThan", OP_NUM_LT, 0 },
	{ "NumericLessThanEquals", OP_NUM_LE, 0 },
	{ "NumericGreaterThan", OP_NUM_GT, 0 },
	{ "NumericGreaterThanEquals", OP_NUM_GE, 0 },
	{ "DateEquals", OP_DATE_EQ, 0 },
	{ "DateNotEquals", OP_DATE_EQ, 1 },
	{ "DateLessThan", OP_DATE_LT, 0 },
	{ "DateLessThanEquals", OP_DATE_LE, 0 },
	{ "DateGreaterThan", OP_DATE_GT, 0 },
	{ "DateGreaterThanEquals", OP_DATE_GE, 0 },
	{ "Bool", OP_BOOL, 0 },
	/* IAM treats ArnEquals like ArnLike: both take wildcards. */
	{ "ArnEquals", OP_ARN_LIKE, 0 },
	{ "ArnLike", OP_ARN_LIKE, 0 },
	{ "ArnNotEquals", OP_ARN_LIKE, 1 },
	{ "ArnNotLike", OP_ARN_LIKE, 1 },
	{ "Null", OP_NULL, 0 },
	/* Real operators this evaluator does not compute. */
	{ "IpAddress", OP_UNSUPPORTED, 0 },
	{ "NotIpAddress", OP_UNSUPPORTED, 1 },
	{ "BinaryEquals", OP_UNSUPPORTED, 0 },
};

int
policy_op_lookup(const char *op, struct policy_opinfo *oi)
{
	char	 base[128];
	size_t	 i, len;

	memset(oi, 0, sizeof(*oi));
	if (strncasecmp(op, "ForAnyValue:", 12) == 0) {
		oi->set = SET_ANY;
		op += 12;
	} else if (strncasecmp(op, "ForAllValues:", 13) == 0) {
		oi->set = SET_ALL;
		op += 13;
	}
	len = strlen(op);
	if (len >= sizeof(base))
		return -1;
	memcpy(base, op, len + 1);
	if (len > 8 && strcasecmp(base + len - 8, "IfExists") == 0) {
		oi->ifexists = 1;
		base[len - 8] = '\0';
	}
	for (i = 0; i < sizeof(opdefs) / sizeof(opdefs[0]); i++)
		if (strcasecmp(base, opdefs[i].name) == 0) {
			oi->def = &opdefs[i];
			/* Null takes neither a set prefix nor IfExists. */
			if (oi->def->kind == OP_NULL &&
			    (oi->ifexists || oi->set != SET_NONE))
				return -1;
			return 0;
		}
	return -1;
}

int
policy_cond_op_known(const char *op)
{
	struct policy_opinfo	oi;

	return policy_op_lookup(op, &oi) == 0;
}

const char *
policy_cond_op_name(size_t i)
{
	return i < sizeof(opdefs) / sizeof(opdefs[0]) ? opdefs[i].name : NULL;
}

/* ---- parsing ---- */

struct perr {
	char		*err;
	size_t		 errlen;
	size_t		 index;		/* statement, 0 for the document */
	const char	*sid;
};

static void
perr_set(struct perr *pe, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
perr_set(struct perr *pe, const char *fmt, ...)
{
	char	msg[384];
	va_list	ap;

	if (pe->err == NULL || pe->errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pe->index == 0)
		(void)snprintf(pe->err, pe->errlen, "%s", msg);
	else if (pe->sid != NULL)
		(void)snprintf(pe->err, pe->errlen, "statement %zu (Sid '%.64s'): %s",
		    pe->index, pe->sid, msg);
	else
		(void)snprintf(pe->err, pe->errlen, "statement %zu: %s",
		    pe->index, msg);
}

static const char *
json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:	return "an object";
	case JSON_ARRAY:	return "an array";
	case JSON_STRING:	return "a string";
	case JSON_INTEGER:
	case JSON_REAL:		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	default:		return "null";
	}
}

/* A string or an array of strings (the usual IAM list). */
static int
parse_strlist(struct perr *pe, const char *what, json_t *j, char ***out,
    size_t *nout)
{
	struct policy_strv	 sv = { 0 };
	json_t			*e;
	size_t			 i;

	if (json_is_string(j)) {
		if (policy_strv_push(&sv, json_string_value(j)) == -1)
			goto nomem;
	} else if (json_is_array(j)) {
		if (json_array_size(j) > POLICY_MAX_VALUES) {
			perr_set(pe, "%s has more than %d values", what,
			    POLICY_MAX_VALUES);
			return -1;
		}
		json_array_foreach(j, i, e) {
			if (!json_is_string(e)) {
				perr_set(pe, "%s value %zu must be a string, "
				    "not %s", what, i + 1, json_kind(e));
				policy_strv_clear(&sv);
				return -1;
			}
			if (policy_strv_push(&sv, json_string_value(e)) == -1)
				goto nomem;
		}
	} else {
		perr_set(pe, "%s must be a string or an array of strings, "
		    "not %s", what, json_kind(j));
		return -1;
	}
	*out = sv.v;
	*nout = sv.n;
	return 0;
nomem:
	policy_strv_clear(&sv);
	perr_set(pe, "out of memory");
	return -1;
}

static int
principal_add(struct policy_stmt *st, enum policy_principal_type t,
    const char *v)
{
	struct policy_principal	*np;

	if ((np = reallocarray(st->principals, st->nprincipals + 1,
	    sizeof(*np))) == NULL)
		return -1;
	st->principals = np;
	if (t == POLICY_PRINCIPAL_AWS && strcmp(v, "*") == 0)
		t = POLICY_PRINCIPAL_ANY;
	np[st->nprincipals].type = t;
	if ((np[st->nprincipals].value = strdup(v)) == NULL)
		return -1;
	st->nprincipals++;
	return 0;
}

static int
parse_principal(struct perr *pe, const char *what, json_t *j,
    struct policy_stmt *st)
{
	static const struct {
		const char			*name;
		enum policy_principal_type	 type;
	} kinds[] = {
		{ "AWS", POLICY_PRINCIPAL_AWS },
		{ "Service", POLICY_PRINCIPAL_SERVICE },
		{ "Federated", POLICY_PRINCIPAL_FEDERATED },
		{ "CanonicalUser", POLICY_PRINCIPAL_CANONICAL_USER },
	};
	const char	*k;
	json_t		*v;
	char		**vals, elem[64];
	size_t		 nvals, i, n;

	if (json_is_string(j)) {
		if (strcmp(json_string_value(j), "*") != 0) {
			perr_set(pe, "%s as a string must be \"*\", not \"%.64s\""
			    " (use {\"AWS\": ...})", what, json_string_value(j));
			return -1;
		}
		if (principal_add(st, POLICY_PRINCIPAL_ANY, "*") == -1)
			goto nomem;
		return 0;
	}
	if (!json_is_object(j)) {
		perr_set(pe, "%s must be \"*\" or an object, not %s", what,
		    json_kind(j));
		return -1;
	}
	if (json_object_size(j) == 0) {
		perr_set(pe, "%s is empty", what);
		return -1;
	}
	json_object_foreach(j, k, v) {
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(k, kinds[i].name) == 0)
				break;
		if (i == sizeof(kinds) / sizeof(kinds[0])) {
			perr_set(pe, "%s has unknown principal type '%.64s' "
			    "(AWS, Service, Federated or CanonicalUser)",
			    what, k);
			return -1;
		}
		(void)snprintf(elem, sizeof(elem), "%s %s", what, kinds[i].name);
		if (parse_strlist(pe, elem, v, &vals, &nvals) == -1)
			return -1;
		if (nvals == 0) {
			perr_set(pe, "%s has no values", elem);
			free(vals);
			return -1;
		}
		for (n = 0; n < nvals; n++) {
			if (vals[n][0] == '\0') {
				perr_set(pe, "%s has an empty value", elem);
				goto fail;
			}
			if (principal_add(st, kinds[i].type, vals[n]) == -1) {
				perr_set(pe, "out of memory");
				goto fail;
			}
		}
		for (n = 0; n < nvals; n++)
			free(vals[n]);
		free(vals);
	}
	return 0;
fail:
	for (n = 0; n < nvals; n++)
		free(vals[n]);
	free(vals);
	return -1;
nomem:
	perr_set(pe, "out of memory");
	return -1;
}

static int
cond_value_text(json_t *e, char *buf, size_t len)
{
	if (json_is_string(e))
		return -2;
	if (json_is_true(e))
		(void)snprintf(buf, len, "true");
	else if (json_is_false(e))
		(void)snprintf(buf, len, "false");
	else if (json_is_integer(e))
		(void)snprintf(buf, len, "%lld", (long long)json_integer_value(e));
	else if (json_is_real(e))
		(void)snprintf(buf, len, "%.15g", json_real_value(e));
	else
		return -1;
	return 0;
}

static int
parse_condition(struct perr *pe, json_t *j, struct policy_stmt *st)
{
	const char		*op, *key;
	json_t			*kv, *v, *e;
	struct policy_cond	*nc, *c;
	struct policy_strv	 sv;
	char			 num[64];
	size_t			 i;
	int			 r;

	if (!json_is_object(j)) {
		perr_set(pe, "Condition must be an object, not %s", json_kind(j));
		return -1;
	}
	json_object_foreach(j, op, kv) {
		if (!json_is_object(kv)) {
			perr_set(pe, "Condition operator %.64s must map to an "
			    "object of condition keys, not %s", op,
			    json_kind(kv));
			return -1;
		}
		json_object_foreach(kv, key, v) {
			memset(&sv, 0, sizeof(sv));
			if (json_is_array(v)) {
				if (json_array_size(v) > POLICY_MAX_VALUES) {
					perr_set(pe, "Condition %.64s %.64s has "
					    "too many values", op, key);
					return -1;
				}
				json_array_foreach(v, i, e) {
					r = cond_value_text(e, num, sizeof(num));
					if (r == -1) {
						perr_set(pe, "Condition %.64s "
						    "%.64s value %zu must be a "
						    "string, boolean or number, "
						    "not %s", op, key, i + 1,
						    json_kind(e));
						policy_strv_clear(&sv);
						return -1;
					}
					if (policy_strv_push(&sv, r == -2 ?
					    json_string_value(e) : num) == -1)
						goto nomem;
				}
			} else {
				r = cond_value_text(v, num, sizeof(num));
				if (r == -1) {
					perr_set(pe, "Condition %.64s %.64s must "
					    "be a string, boolean, number or "
					    "array of them, not %s", op, key,
					    json_kind(v));
					return -1;
				}
				if (policy_strv_push(&sv, r == -2 ?
				    json_string_value(v) : num) == -1)
					goto nomem;
			}
			if ((nc = reallocarray(st->conds, st->nconds + 1,
			    sizeof(*nc))) == NULL)
				goto nomem;
			st->conds = nc;
			c = &nc[st->nconds];
			memset(c, 0, sizeof(*c));
			c->values = sv.v;
			c->nvalues = sv.n;
			c->scalar = !json_is_array(v);
			st->nconds++;
			if ((c->op = strdup(op)) == NULL ||
			    (c->key = strdup(key)) == NULL) {
				perr_set(pe, "out of memory");
				return -1;
			}
		}
	}
	return 0;
nomem:
	policy_strv_clear(&sv);
	perr_set(pe, "out of memory");
	return -1;
}

static void
stmt_clear(struct policy_stmt *st)
{
	size_t i, j;

	free(st->sid);
	for (i = 0; i < st->nprincipals; i++)
		free(st->principals[i].value);
	free(st->principals);
	for (i = 0; i < st->nactions; i++)
		free(st->actions[i]);
	free(st->actions);
	for (i = 0; i < st->nresources; i++)
		free(st->resources[i]);
	free(st->resources);
	for (i = 0; i < st->nconds; i++) {
		free(st->conds[i].op);
		free(st->conds[i].key);
		for (j = 0; j < st->conds[i].nvalues; j++)
			free(st->conds[i].values[j]);
		free(st->conds[i].values);
	}
	free(st->conds);
}

static int
parse_stmt(struct perr *pe, json_t *j, struct policy_stmt *st)
{
	json_t		*v, *eff, *pr, *npr, *ac, *nac, *rs, *nrs;
	const char	*k;

	if (!json_is_object(j)) {
		perr_set(pe, "must be an object, not %s", json_kind(j));
		return -1;
	}
	if ((v = json_object_get(j, "Sid")) != NULL) {
		if (!json_is_string(v)) {
			perr_set(pe, "Sid must be a string, not %s",
			    json_kind(v));
			return -1;
		}
		if ((st->sid = strdup(json_string_value(v))) == NULL) {
			perr_set(pe, "out of memory");
			return -1;
		}
		pe->sid = st->sid;
	}
	json_object_foreach(j, k, v) {
		if (strcmp(k, "Sid") != 0 && strcmp(k, "Effect") != 0 &&
		    strcmp(k, "Principal") != 0 &&
		    strcmp(k, "NotPrincipal") != 0 &&
		    strcmp(k, "Action") != 0 && strcmp(k, "NotAction") != 0 &&
		    strcmp(k, "Resource") != 0 &&
		    strcmp(k, "NotResource") != 0 &&
		    strcmp(k, "Condition") != 0) {
			perr_set(pe, "unknown element '%.64s'", k);
			return -1;
		}
	}
	eff = json_object_get(j, "Effect");
	if (eff == NULL) {
		perr_set(pe, "Effect is missing");
		return -1;
	}
	if (json_is_string(eff) && strcmp(json_string_value(eff), "Allow") == 0)
		st->effect = POLICY_ALLOW;
	else if (json_is_string(eff) &&
	    strcmp(json_string_value(eff), "Deny") == 0)
		st->effect = POLICY_DENY;
	else {
		perr_set(pe, "Effect must be Allow or Deny");
		return -1;
	}

	pr = json_object_get(j, "Principal");
	npr = json_object_get(j, "NotPrincipal");
	if (pr != NULL && npr != NULL) {
		perr_set(pe, "has both Principal and NotPrincipal");
		return -1;
	}
	if (pr == NULL && npr == NULL) {
		perr_set(pe, "Principal is missing (a key policy statement "
		    "needs Principal or NotPrincipal)");
		return -1;
	}
	st->has_principal = 1;
	st->not_principal = npr != NULL;
	if (parse_principal(pe, npr ? "NotPrincipal" : "Principal",
	    npr ? npr : pr, st) == -1)
		return -1;

	ac = json_object_get(j, "Action");
	nac = json_object_get(j, "NotAction");
	if (ac != NULL && nac != NULL) {
		perr_set(pe, "has both Action and NotAction");
		return -1;
	}
	if (ac == NULL && nac == NULL) {
		perr_set(pe, "Action is missing");
		return -1;
	}
	st->not_action = nac != NULL;
	if (parse_strlist(pe, nac ? "NotAction" : "Action", nac ? nac : ac,
	    &st->actions, &st->nactions) == -1)
		return -1;

	rs = json_object_get(j, "Resource");
	nrs = json_object_get(j, "NotResource");
	if (rs != NULL && nrs != NULL) {
		perr_set(pe, "has both Resource and NotResource");
		return -1;
	}
	if (rs != NULL || nrs != NULL) {
		st->has_resource = 1;
		st->not_resource = nrs != NULL;
		if (parse_strlist(pe, nrs ? "NotResource" : "Resource",
		    nrs ? nrs : rs, &st->resources, &st->nresources) == -1)
			return -1;
	}

	if ((v = json_object_get(j, "Condition")) != NULL &&
	    parse_condition(pe, v, st) == -1)
		return -1;
	return 0;
}

struct policy *
policy_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct policy	*p = NULL;
	struct perr	 pe = { err, errlen, 0, NULL };
	json_error_t	 jerr;
	json_t		*root = NULL, *v, *stmts;
	const char	*k;
	size_t		 i, n;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL) {
		perr_set(&pe, "no policy text");
		return NULL;
	}
	if (len > POLICY_MAX_TEXT) {
		perr_set(&pe, "policy is %zu bytes, more than the limit of %d",
		    len, POLICY_MAX_TEXT);
		return NULL;
	}
	/* jansson bounds nesting depth itself (JSON_PARSER_MAX_DEPTH). */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		perr_set(&pe, "policy is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		perr_set(&pe, "policy must be a JSON object, not %s",
		    json_kind(root));
		goto fail;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "Version") != 0 && strcmp(k, "Id") != 0 &&
		    strcmp(k, "Statement") != 0) {
			perr_set(&pe, "policy has unknown element '%.64s'", k);
			goto fail;
		}
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		perr_set(&pe, "out of memory");
		goto fail;
	}
	if ((v = json_object_get(root, "Version")) != NULL) {
		if (!json_is_string(v)) {
			perr_set(&pe, "Version must be a string, not %s",
			    json_kind(v));
			goto fail;
		}
		if (strcmp(json_string_value(v), "2012-10-17") != 0 &&
		    strcmp(json_string_value(v), "2008-10-17") != 0) {
			perr_set(&pe, "Version must be 2012-10-17 or 2008-10-17,"
			    " not \"%.32s\"", json_string_value(v));
			goto fail;
		}
		if ((p->version = strdup(json_string_value(v))) == NULL) {
			perr_set(&pe, "out of memory");
			goto fail;
		}
	}
	if ((v = json_object_get(root, "Id")) != NULL) {
		if (!json_is_string(v)) {
			perr_set(&pe, "Id must be a string, not %s",
			    json_kind(v));
			goto fail;
		}
		if ((p->id = strdup(json_string_value(v))) == NULL) {
			perr_set(&pe, "out of memory");
			goto fail;
		}
	}
	if ((stmts = json_object_get(root, "Statement")) == NULL) {
		perr_set(&pe, "policy has no Statement");
		goto fail;
	}
	if (json_is_object(stmts))
		n = 1;
	else if (json_is_array(stmts))
		n = json_array_size(stmts);
	else {
		perr_set(&pe, "Statement must be an object or an array, not %s",
		    json_kind(stmts));
		goto fail;
	}
	if (n > POLICY_MAX_STATEMENTS) {
		perr_set(&pe, "policy has %zu statements, more than %d", n,
		    POLICY_MAX_STATEMENTS);
		goto fail;
	}
	if (n > 0 && (p->stmts = calloc(n, sizeof(*p->stmts))) == NULL) {
		perr_set(&pe, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		pe.index = i + 1;
		pe.sid = NULL;
		p->stmts[i].index = i + 1;
		p->nstmts = i + 1;
		if (parse_stmt(&pe, json_is_object(stmts) ? stmts :
		    json_array_get(stmts, i), &p->stmts[i]) == -1)
			goto fail;
	}
	json_decref(root);
	return p;
fail:
	json_decref(root);
	policy_free(p);
	return NULL;
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nstmts; i++)
		stmt_clear(&p->stmts[i]);
	free(p->stmts);
	free(p->version);
	free(p->id);
	free(p);
}

void
policy_stmt_name(const struct policy_stmt *st, char *buf, size_t len)
{
	if (st->sid != NULL && st->sid[0] != '\0')
		(void)snprintf(buf, len, "statement '%.100s'", st->sid);
	else
		(void)snprintf(buf, len, "statement #%zu", st->index);
}

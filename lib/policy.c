/*
 * AWS KMS key policy evaluation.  See policy.h for the contract.
 *
 * Every decision is three-valued (no / yes / cannot tell) because a
 * monitor that guesses pages people for nothing, or stays quiet while the
 * vendor's backups fail.  A statement "cannot tell" when it depends on a
 * condition key whose value is not known for the request, or on an
 * operator this file does not implement.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "policy.h"
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

/* ---- small helpers ---- */

struct strv {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

static int
strv_push(struct strv *sv, const char *s)
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

static void
strv_clear(struct strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

static int
strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Sorts and removes duplicates: lists in policies are sets. */
static void
strv_sort_uniq(struct strv *sv)
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
strv_has(const struct strv *sv, const char *s)
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

static char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

/* Appends to a fixed buffer, truncating quietly: reasons are one line. */
static void
bufcat(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
bufcat(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	size_t	used = strnlen(buf, len);

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static int
is_account_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return i == 12;
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
	struct strv	sv = { 0 };
	json_t		*e;
	size_t		 i;

	if (json_is_string(j)) {
		if (strv_push(&sv, json_string_value(j)) == -1)
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
				strv_clear(&sv);
				return -1;
			}
			if (strv_push(&sv, json_string_value(e)) == -1)
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
	strv_clear(&sv);
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
	struct strv		 sv;
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
						strv_clear(&sv);
						return -1;
					}
					if (strv_push(&sv, r == -2 ?
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
				if (strv_push(&sv, r == -2 ?
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
	strv_clear(&sv);
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

/* ---- evaluation ---- */

static void
stmt_name(const struct policy_stmt *st, char *buf, size_t len)
{
	if (st->sid != NULL && st->sid[0] != '\0')
		(void)snprintf(buf, len, "statement '%.100s'", st->sid);
	else
		(void)snprintf(buf, len, "statement #%zu", st->index);
}

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
	if (is_account_id(p)) {
		(void)snprintf(rp->account, sizeof(rp->account), "%s", p);
		rp->root = 1;
	} else if (arn_split(p, &a) == 0) {
		if (is_account_id(a.account))
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

	if (is_account_id(v)) {
		(void)snprintf(acct, len, "%s", v);
		return 1;
	}
	if (arn_split(v, &a) == 0 && strcmp(a.service, "iam") == 0 &&
	    strcmp(a.resource, "root") == 0 && is_account_id(a.account)) {
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
		if (is_account_id(v))
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

enum opkind {
	OP_STR_EQ, OP_STR_EQ_I, OP_STR_LIKE, OP_NUM_EQ, OP_NUM_LT, OP_NUM_LE,
	OP_NUM_GT, OP_NUM_GE, OP_DATE_EQ, OP_DATE_LT, OP_DATE_LE, OP_DATE_GT,
	OP_DATE_GE, OP_BOOL, OP_ARN_LIKE, OP_NULL, OP_UNSUPPORTED
};

static const struct opdef {
	const char	*name;
	enum opkind	 kind;
	int		 negated;
} opdefs[] = {
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

enum setmode { SET_NONE, SET_ANY, SET_ALL };

struct opinfo {
	const struct opdef	*def;
	enum setmode		 set;
	int			 ifexists;
};

static int
op_lookup(const char *op, struct opinfo *oi)
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
	struct opinfo	oi;

	return op_lookup(op, &oi) == 0;
}

const char *
policy_cond_op_name(size_t i)
{
	return i < sizeof(opdefs) / sizeof(opdefs[0]) ? opdefs[i].name : NULL;
}

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
value_matches(enum opkind k, const char *pv, const char *cv)
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
value_satisfies(const struct opinfo *oi, const struct policy_cond *c,
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
		bufcat(buf, len, "%s\"%s\"", i ? ", " : c->nvalues > 1 ? "[" :
		    "", c->values[i]);
	if (c->nvalues > 1)
		bufcat(buf, len, "]");
	if (c->nvalues == 0)
		bufcat(buf, len, "[]");
}

static enum tri
cond_eval(const struct policy_cond *c, const struct policy_request *req,
    char *why, size_t whylen)
{
	struct opinfo	 oi;
	const char	*vals[32];
	size_t		 nvals, i, sat;
	enum ctxstate	 st;
	char		 desc[256];

	cond_describe(c, desc, sizeof(desc));
	if (op_lookup(c->op, &oi) == -1) {
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
		stmt_name(deny_yes, n1, sizeof(n1));
		(void)snprintf(out->reason, sizeof(out->reason),
		    "%s denies it", n1);
		if (out->allowing != NULL) {
			stmt_name(out->allowing, n2, sizeof(n2));
			bufcat(out->reason, sizeof(out->reason),
			    " (overriding %s, which allows it)", n2);
		}
		return out->result;
	}
	if (allow_yes == NULL && allow_unk == NULL) {
		out->result = POLICY_IMPLICIT_DENY;
		if (near_cond != NULL) {
			out->allowing = near_cond;
			stmt_name(near_cond, n1, sizeof(n1));
			(void)snprintf(out->reason, sizeof(out->reason),
			    "%s would allow it, but %s", n1, near_why);
		} else if (near_prin != NULL) {
			stmt_name(near_prin, n1, sizeof(n1));
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
		stmt_name(deny_unk, n1, sizeof(n1));
		(void)snprintf(out->reason, sizeof(out->reason),
		    "Deny %s may apply: %s", n1, deny_why);
		return out->result;
	}
	if (allow_yes != NULL) {
		out->result = POLICY_ALLOWED;
		out->deciding = out->allowing = allow_yes;
		stmt_name(allow_yes, n1, sizeof(n1));
		(void)snprintf(out->reason, sizeof(out->reason),
		    "allowed by %s", n1);
		return out->result;
	}
	out->result = POLICY_CANNOT_TELL;
	out->deciding = out->allowing = allow_unk;
	stmt_name(allow_unk, n1, sizeof(n1));
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
	stmt_name(st, buf, sizeof(buf));
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
			av->reason = xasprintf("%s is not allowed for %s: %s "
			    "(the vendor needs it for %s)", action,
			    out->principal, d.reason, g->label);
		else
			av->reason = xasprintf("%s is not allowed for %s: %s",
			    action, out->principal, d.reason);
		break;
	default:
		av->status = POLICY_STATUS_UNKNOWN;
		av->reason = xasprintf("cannot tell whether %s is allowed for "
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
	if ((out->principal = xasprintf("arn:%s:iam::%s:root", partition,
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
				bufcat(more, sizeof(more), ", ...");
				break;
			}
			bufcat(more, sizeof(more), "%s%s", listed ? ", " : "",
			    out->actions[i].action);
			listed++;
		}
		if (listed == 0)
			out->reason = strdup(first->reason);
		else
			out->reason = xasprintf("%s; also %s: %s",
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

/* ---- canonical form ---- */

struct ccond {
	char		*op;		/* operator in its documented spelling */
	char		*key;		/* lower-cased */
	const char	*shown;		/* the key as written, for diff lines */
	struct strv	 values;	/* sorted set */
};

struct cstmt {
	const struct policy_stmt *st;
	struct strv	 actions;	/* lower-cased sorted set */
	struct strv	 principals;	/* "*" or "Type:value" */
	struct strv	 resources;
	struct ccond	*conds;
	size_t		 nconds;
	json_t		*json;
	char		*text;		/* compact canonical JSON */
	int		 matched;
};

static void
cstmt_clear(struct cstmt *c)
{
	size_t i;

	strv_clear(&c->actions);
	strv_clear(&c->principals);
	strv_clear(&c->resources);
	for (i = 0; i < c->nconds; i++) {
		free(c->conds[i].op);
		free(c->conds[i].key);
		strv_clear(&c->conds[i].values);
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
strv_json(const struct strv *sv, size_t skip)
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
		if (strv_push(&c->actions, st->actions[i]) == -1)
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
		    is_account_id(pp->value)) {
			(void)snprintf(acct, sizeof(acct), "%s", pp->value);
			s = xasprintf("AWS:arn:aws:iam::%s:root", acct);
		} else
			s = xasprintf("%s:%s", principal_type_name(pp->type),
			    pp->value);
		if (s == NULL || strv_push(&c->principals, s) == -1) {
			free(s);
			goto fail;
		}
		free(s);
	}
	/* "*" covers every other principal in the list. */
	if (any) {
		strv_clear(&c->principals);
		if (strv_push(&c->principals, "*") == -1)
			goto fail;
	}
	strv_sort_uniq(&c->principals);
	for (i = 0; i < st->nresources; i++)
		if (strv_push(&c->resources, st->resources[i]) == -1)
			goto fail;
	strv_sort_uniq(&c->resources);
	if (st->nconds > 0 &&
	    (c->conds = calloc(st->nconds, sizeof(*c->conds))) == NULL)
		goto fail;
	for (i = 0; i < st->nconds; i++) {
		struct ccond *cc = &c->conds[c->nconds++];
		struct opinfo oi;
		int isbool;

		isbool = 0;
		if (op_lookup(st->conds[i].op, &oi) == 0) {
			/* Operators match case-insensitively: spell them one
			 * way. */
			isbool = oi.def->kind == OP_BOOL ||
			    oi.def->kind == OP_NULL;
			cc->op = xasprintf("%s%s%s", oi.set == SET_ANY ?
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
			if (strv_push(&cc->values, st->conds[i].values[j]) == -1)
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
	struct strv	sv;
	int		failed;
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
	if (strv_push(&l->sv, s) == -1)
		l->failed = 1;
	free(s);
}

static void
cstmt_name(const struct cstmt *c, char *buf, size_t len)
{
	stmt_name(c->st, buf, len);
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
    const struct strv *a, const struct strv *b, char * const *oa, size_t noa,
    char * const *ob, size_t nob)
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
values_text(const struct strv *sv, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	if (sv->n != 1)
		bufcat(buf, len, "[");
	for (i = 0; i < sv->n; i++)
		bufcat(buf, len, "%s%s", i ? ", " : "", sv->v[i]);
	if (sv->n != 1)
		bufcat(buf, len, "]");
}

/* Principal set entries are "Type:value"; show AWS ones bare. */
static void
principals_display(const struct strv *in, struct strv *out)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		(void)strv_push(out, strncmp(in->v[i], "AWS:", 4) == 0 ?
		    in->v[i] + 4 : in->v[i]);
}

static void
diff_stmt(struct lines *l, const struct cstmt *a, const struct cstmt *b)
{
	char		 name[128], va[512], vb[512];
	struct strv	 pa = { 0 }, pb = { 0 };
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
	strv_clear(&pa);
	strv_clear(&pb);
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
	struct strv	p = { 0 };
	char		acts[256], prs[256];

	principals_display(&c->principals, &p);
	values_text(&c->actions, acts, sizeof(acts));
	values_text(&p, prs, sizeof(prs));
	strv_clear(&p);
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
	strv_clear(&l.sv);
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

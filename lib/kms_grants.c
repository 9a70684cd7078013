/*
 * Grants on a KMS key, pure (kms_grants.h): ListGrants pages into
 * canonical grants, the set's order, digest and diff.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kms.h"
#include "kms_grants.h"
#include "kms_int.h"

/* A grant's content: everything but its id, as compact sorted JSON. */
static char *
kms_grants_content(const json_t *g)
{
	json_t	*c;
	char	*s;

	if (!json_is_object(g) || (c = json_copy((json_t *)(uintptr_t)g)) ==
	    NULL)
		return NULL;
	(void)json_object_del(c, "id");
	s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(c);
	return s;
}

static int
kms_grants_str(json_t *el, const char *ctx, const char *member,
    const char *as, json_t *out, int required, struct kms_error *err)
{
	json_t	*v = json_object_get(el, member);

	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		kms_malformed(err, "%s.%s is missing", ctx, member);
		return -1;
	}
	if (!json_is_string(v)) {
		kms_malformed(err, "%s.%s is %s, expected a string", ctx,
		    member, kms_json_type(v));
		return -1;
	}
	if (json_object_set(out, as, v) == -1) {
		kms_malformed(err, "%s: out of memory", ctx);
		return -1;
	}
	return 0;
}

static int
kms_grants_strcmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	    json_string_value(*(json_t *const *)b));
}

/* Operations: an array of strings, sorted and unique in out. */
static int
kms_grants_ops(json_t *el, const char *ctx, json_t *out,
    struct kms_error *err)
{
	json_t	*v = json_object_get(el, "Operations"), **sv = NULL, *a;
	size_t	 i, n;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		kms_malformed(err, "%s.Operations is %s, expected an array",
		    ctx, kms_json_type(v));
		return -1;
	}
	n = json_array_size(v);
	if (n > 0 && (sv = calloc(n, sizeof(*sv))) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		sv[i] = json_array_get(v, i);
		if (!json_is_string(sv[i])) {
			kms_malformed(err, "%s.Operations[%zu] is %s, expected "
			    "a string", ctx, i, kms_json_type(sv[i]));
			free(sv);
			return -1;
		}
	}
	if (n > 1)
		qsort(sv, n, sizeof(*sv), kms_grants_strcmp);
	if ((a = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if ((i == 0 || strcmp(json_string_value(sv[i]),
		    json_string_value(sv[i - 1])) != 0) &&
		    json_array_append(a, sv[i]) == -1) {
			json_decref(a);
			goto oom;
		}
	free(sv);
	if (json_object_set_new(out, "operations", a) == -1)
		goto oom;
	return 0;
oom:
	free(sv);
	kms_malformed(err, "%s: out of memory", ctx);
	return -1;
}

/* Constraints: an object of objects of strings (the encryption context
 * a grant requires); kept whole, its keys sorted when dumped. */
static int
kms_grants_constraints(json_t *el, const char *ctx, json_t *out,
    struct kms_error *err)
{
	json_t		*v = json_object_get(el, "Constraints"), *m, *s;
	const char	*k, *ck;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		kms_malformed(err, "%s.Constraints is %s, expected an object",
		    ctx, kms_json_type(v));
		return -1;
	}
	json_object_foreach(v, k, m) {
		if (json_is_null(m))
			continue;
		if (!json_is_object(m)) {
			kms_malformed(err, "%s.Constraints.%s is %s, expected "
			    "an object", ctx, k, kms_json_type(m));
			return -1;
		}
		json_object_foreach(m, ck, s)
			if (!json_is_string(s)) {
				kms_malformed(err, "%s.Constraints.%s.%s is %s, "
				    "expected a string", ctx, k, ck,
				    kms_json_type(s));
				return -1;
			}
	}
	if (json_object_size(v) == 0)
		return 0;
	if (json_object_set(out, "constraints", v) == -1) {
		kms_malformed(err, "%s: out of memory", ctx);
		return -1;
	}
	return 0;
}

int
kms_parse_grants(const char *body, size_t len, json_t *grants,
    char **next_marker, struct kms_error *err)
{
	static const char	 ctx[] = "ListGrants";
	json_t			*root, *arr, *el, *page = NULL, *g;
	size_t			 i, n = 0;
	char			 elctx[64];
	int			 rc = -1;

	*next_marker = NULL;
	if ((root = kms_load_object(body, len, ctx, err)) == NULL)
		return -1;
	arr = json_object_get(root, "Grants");
	if (arr != NULL && !json_is_null(arr)) {
		if (!json_is_array(arr)) {
			kms_malformed(err, "ListGrants.Grants is %s, expected "
			    "an array", kms_json_type(arr));
			goto done;
		}
		n = json_array_size(arr);
	}
	if (json_array_size(grants) + n > KMS_MAX_GRANTS) {
		kms_malformed(err, "ListGrants: more than %d grants",
		    KMS_MAX_GRANTS);
		goto done;
	}
	if ((page = json_array()) == NULL) {
		kms_malformed(err, "ListGrants: out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		el = json_array_get(arr, i);
		snprintf(elctx, sizeof(elctx), "ListGrants.Grants[%zu]", i);
		if (!json_is_object(el)) {
			kms_malformed(err, "%s is %s, expected an object",
			    elctx, kms_json_type(el));
			goto done;
		}
		if ((g = json_object()) == NULL ||
		    json_array_append_new(page, g) == -1) {
			kms_malformed(err, "ListGrants: out of memory");
			goto done;
		}
		if (kms_grants_str(el, elctx, "GrantId", "id", g, 1, err) ==
		    -1 ||
		    kms_grants_str(el, elctx, "GranteePrincipal", "grantee", g,
		    0, err) == -1 ||
		    kms_grants_str(el, elctx, "RetiringPrincipal", "retiring",
		    g, 0, err) == -1 ||
		    kms_grants_str(el, elctx, "IssuingAccount",
		    "issuing_account", g, 0, err) == -1 ||
		    kms_grants_ops(el, elctx, g, err) == -1 ||
		    kms_grants_constraints(el, elctx, g, err) == -1)
			goto done;
	}
	if (kms_parse_marker(root, ctx, next_marker, err) == -1)
		goto done;
	if (json_array_extend(grants, page) == -1) {
		free(*next_marker);
		*next_marker = NULL;
		kms_malformed(err, "ListGrants: out of memory");
		goto done;
	}
	rc = 0;
done:
	json_decref(page);
	json_decref(root);
	return rc;
}

struct kms_grants_item {
	char	*content;
	json_t	*g;
};

static int
kms_grants_item_cmp(const void *a, const void *b)
{
	const struct kms_grants_item	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->content, y->content)) != 0)
		return c;
	return strcmp(json_string_value(json_object_get(x->g, "id")),
	    json_string_value(json_object_get(y->g, "id")));
}

static void
kms_grants_items_free(struct kms_grants_item *v, size_t n)
{
	size_t	i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i].content);
	free(v);
}

/* The set's items with their content, sorted; NULL when out of memory
 * or a member is not a grant with an id (*n 0 for an empty set). */
static struct kms_grants_item *
kms_grants_items(const json_t *grants, size_t *np)
{
	struct kms_grants_item	*v;
	size_t			 i, n = json_array_size(grants);

	*np = n;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		v[i].g = json_array_get(grants, i);
		if (!json_is_string(json_object_get(v[i].g, "id")) ||
		    (v[i].content = kms_grants_content(v[i].g)) == NULL) {
			kms_grants_items_free(v, i);
			return NULL;
		}
	}
	qsort(v, n, sizeof(*v), kms_grants_item_cmp);
	return v;
}

int
kms_grants_sort(json_t *grants)
{
	struct kms_grants_item	*v;
	json_t			*a;
	size_t			 i, n;

	if (!json_is_array(grants) || (v = kms_grants_items(grants, &n)) ==
	    NULL)
		return -1;
	if ((a = json_array()) == NULL) {
		kms_grants_items_free(v, n);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (json_array_append(a, v[i].g) == -1) {
			json_decref(a);
			kms_grants_items_free(v, n);
			return -1;
		}
	kms_grants_items_free(v, n);
	if (json_array_clear(grants) == -1 ||
	    json_array_extend(grants, a) == -1) {
		json_decref(a);
		return -1;
	}
	json_decref(a);
	return 0;
}

int
kms_grants_digest(const json_t *grants,
    unsigned char md[KMS_GRANTS_DIGEST_LEN])
{
	struct kms_grants_item	*v;
	EVP_MD_CTX		*ctx;
	unsigned int		 mdlen = 0;
	size_t			 i, n;
	int			 ok;

	if (!json_is_array(grants) || (v = kms_grants_items(grants, &n)) ==
	    NULL)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		kms_grants_items_free(v, n);
		return -1;
	}
	/* Compact JSON has no raw newline: one line per grant. */
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, v[i].content,
		    strlen(v[i].content)) == 1 &&
		    EVP_DigestUpdate(ctx, "\n", 1) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	    mdlen == KMS_GRANTS_DIGEST_LEN;
	EVP_MD_CTX_free(ctx);
	kms_grants_items_free(v, n);
	return ok ? 0 : -1;
}

const char *
kms_grants_account_of(const char *p, char *buf, size_t len)
{
	const char	*s;
	size_t		 i, n;

	if (p == NULL || len < 13)
		return NULL;
	if (strncmp(p, "arn:", 4) == 0) {
		/* arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */
		s = p;
		for (i = 0; i < 4; i++)
			if ((s = strchr(s, ':')) == NULL)
				return NULL;
			else
				s++;
		n = strcspn(s, ":");
		if (s[n] != ':')
			return NULL;
	} else {
		s = p;
		n = strlen(s);
	}
	if (n != 12)
		return NULL;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return NULL;
	memcpy(buf, s, 12);
	buf[12] = '\0';
	return buf;
}

int
kms_grants_is_vendor(const json_t *g, const char *account)
{
	static const char * const	 who[] = { "grantee", "issuing_account" };
	const char			*a;
	char				 buf[16];
	size_t				 i;

	if (account == NULL)
		return 0;
	for (i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		a = kms_grants_account_of(json_string_value(json_object_get(g,
		    who[i])), buf, sizeof(buf));
		if (a != NULL && strcmp(a, account) == 0)
			return 1;
	}
	return 0;
}

size_t
kms_grants_count_vendor(const json_t *grants, const char *account)
{
	size_t	 i, n = 0;
	json_t	*g;

	json_array_foreach(grants, i, g)
		n += (size_t)kms_grants_is_vendor(g, account);
	return n;
}

int
kms_grants_diff(const json_t *base, const json_t *cur, json_t **removed,
    json_t **added)
{
	struct kms_grants_item	*b = NULL, *c = NULL;
	size_t			 nb = 0, nc = 0, i = 0, j = 0;
	int			 cmp, rc = -1;

	*removed = json_array();
	*added = json_array();
	if (*removed == NULL || *added == NULL ||
	    (b = kms_grants_items(base, &nb)) == NULL ||
	    (c = kms_grants_items(cur, &nc)) == NULL)
		goto done;
	/* A merge of two sorted multisets, by content only. */
	while (i < nb || j < nc) {
		if (i == nb)
			cmp = 1;
		else if (j == nc)
			cmp = -1;
		else
			cmp = strcmp(b[i].content, c[j].content);
		if (cmp == 0) {
			i++;
			j++;
		} else if (cmp < 0) {
			if (json_array_append(*removed, b[i++].g) == -1)
				goto done;
		} else if (json_array_append(*added, c[j++].g) == -1)
			goto done;
	}
	rc = 0;
done:
	kms_grants_items_free(b, nb);
	kms_grants_items_free(c, nc);
	if (rc == -1) {
		json_decref(*removed);
		json_decref(*added);
		*removed = *added = NULL;
	}
	return rc;
}

char *
kms_grants_describe(const json_t *g)
{
	const char	*id = json_string_value(json_object_get(g, "id"));
	const char	*to = json_string_value(json_object_get(g, "grantee"));
	const char	*ret = json_string_value(json_object_get(g, "retiring"));
	const char	*iss = json_string_value(json_object_get(g,
			    "issuing_account"));
	json_t		*ops = json_object_get(g, "operations"), *o;
	char		*cons = NULL, *s = NULL, *opl = NULL, *t;
	size_t		 i;

	if ((opl = strdup("")) == NULL)
		return NULL;
	json_array_foreach(ops, i, o) {
		if (asprintf(&t, "%s%s%s", opl, i > 0 ? ", " : "",
		    json_string_value(o)) == -1)
			goto done;
		free(opl);
		opl = t;
	}
	if (json_object_get(g, "constraints") != NULL &&
	    (cons = json_dumps(json_object_get(g, "constraints"),
	    JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto done;
	if (asprintf(&s, "grant %s to %s: %s%s%s%s%s%s%s", id ? id : "?",
	    to ? to : "(no grantee)", opl[0] ? opl : "(no operations)",
	    ret ? "; retiring " : "", ret ? ret : "",
	    iss ? "; issued by " : "", iss ? iss : "",
	    cons ? "; constraints " : "", cons ? cons : "") == -1)
		s = NULL;
done:
	free(opl);
	free(cons);
	return s;
}

const char *
kms_grants_hex(const unsigned char md[KMS_GRANTS_DIGEST_LEN], char *buf)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < KMS_GRANTS_DIGEST_LEN; i++) {
		buf[2 * i] = hex[md[i] >> 4];
		buf[2 * i + 1] = hex[md[i] & 0xf];
	}
	buf[2 * KMS_GRANTS_DIGEST_LEN] = '\0';
	return buf;
}

static int
kms_grants_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
kms_grants_unhex(const char *s, unsigned char md[KMS_GRANTS_DIGEST_LEN])
{
	size_t	i;
	int	hi, lo;

	if (s == NULL || strlen(s) != 2 * KMS_GRANTS_DIGEST_LEN)
		return -1;
	for (i = 0; i < KMS_GRANTS_DIGEST_LEN; i++) {
		if ((hi = kms_grants_nibble(s[2 * i])) == -1 ||
		    (lo = kms_grants_nibble(s[2 * i + 1])) == -1)
			return -1;
		md[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/*
 * KMS requests and answers, the pure half of lib/kms (kms.h): response
 * parsing, error classification, backoff and token-bucket arithmetic, HTTP
 * and skew dates (unit tested and fuzzed).  The loop client that uses them
 * is kms_client.c.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "arn.h"
#include "jscan.h"
#include "kms.h"
#include "kms_int.h"

#define KMS_MAX_ALIASES		100000

/* ------------------------------------------------------------------ */
/* Names */

const char *
kms_errclass_name(enum kms_errclass cls)
{
	switch (cls) {
	case KMS_OK:
		return "ok";
	case KMS_ERR_NOT_FOUND:
		return "not-found";
	case KMS_ERR_ACCESS_DENIED:
		return "access-denied";
	case KMS_ERR_AUTH:
		return "auth";
	case KMS_ERR_INVALID_STATE:
		return "invalid-state";
	case KMS_ERR_THROTTLED:
		return "throttled";
	case KMS_ERR_SERVER:
		return "server";
	case KMS_ERR_TRANSPORT:
		return "transport";
	case KMS_ERR_MALFORMED:
		return "malformed";
	case KMS_ERR_OTHER:
		return "other";
	}
	return "unknown";
}

const char *
kms_op_name(enum kms_op op)
{
	switch (op) {
	case KMS_OP_DESCRIBE_KEY:
		return "DescribeKey";
	case KMS_OP_GET_KEY_POLICY:
		return "GetKeyPolicy";
	case KMS_OP_GET_KEY_ROTATION_STATUS:
		return "GetKeyRotationStatus";
	case KMS_OP_LIST_ALIASES:
		return "ListAliases";
	case KMS_OP_LIST_GRANTS:
		return "ListGrants";
	case KMS_OP_LIST_KEYS:
		return "ListKeys";
	case KMS_OP_LIST_KEY_ROTATIONS:
		return "ListKeyRotations";
	case KMS_OP_DESCRIBE_CUSTOM_KEY_STORES:
		return "DescribeCustomKeyStores";
	case KMS_OP_GET_KEY_LAST_USAGE:
		return "GetKeyLastUsage";
	}
	return "Unknown";
}

/* ------------------------------------------------------------------ */
/* Errors */

void
kms_seterr(struct kms_error *e, enum kms_errclass cls, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	if (e == NULL)
		return;
	e->cls = cls;
	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void
kms_malformed(struct kms_error *e, const char *fmt, ...)
{
	va_list	ap;

	if (e == NULL)
		return;
	e->cls = KMS_ERR_MALFORMED;
	e->retryable = 0;
	snprintf(e->code, sizeof(e->code), "MalformedResponse");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

const char *
kms_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* Copies text that came from the network into a message: printable ASCII
 * only, whitespace runs collapsed. */
static void
kms_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t	i, o = 0;
	int	space = 0;

	if (dstlen == 0)
		return;
	for (i = 0; i < srclen && o + 1 < dstlen; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (isspace(ch)) {
			space = (o > 0);
			continue;
		}
		if (space && o + 2 < dstlen)
			dst[o++] = ' ';
		space = 0;
		dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[o] = '\0';
}

/* Loads body as a JSON object; -1 with a MALFORMED error otherwise. */
json_t *
kms_load_object(const char *body, size_t len, const char *what,
    struct kms_error *err)
{
	json_t		*root;
	json_error_t	 je;

	if (body == NULL || len == 0) {
		kms_malformed(err, "%s: empty response body", what);
		return NULL;
	}
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		kms_malformed(err, "%s: response is not JSON: %s at "
		    "position %d", what, je.text, je.position);
		return NULL;
	}
	if (!json_is_object(root)) {
		kms_malformed(err, "%s: response is %s, expected an object",
		    what, kms_json_type(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------------------ */
/* Error classification */

struct kms_code_class {
	const char		*code;
	enum kms_errclass	 cls;
	int			 retryable;
};

static const struct kms_code_class kms_codes[] = {
	{ "NotFoundException",			KMS_ERR_NOT_FOUND, 0 },
	{ "AccessDeniedException",		KMS_ERR_ACCESS_DENIED, 0 },
	{ "AccessDenied",			KMS_ERR_ACCESS_DENIED, 0 },
	{ "UnrecognizedClientException",	KMS_ERR_AUTH, 0 },
	{ "InvalidSignatureException",		KMS_ERR_AUTH, 0 },
	{ "IncompleteSignatureException",	KMS_ERR_AUTH, 0 },
	{ "IncompleteSignature",		KMS_ERR_AUTH, 0 },
	{ "ExpiredTokenException",		KMS_ERR_AUTH, 0 },
	{ "ExpiredToken",			KMS_ERR_AUTH, 0 },
	{ "InvalidClientTokenId",		KMS_ERR_AUTH, 0 },
	{ "SignatureDoesNotMatch",		KMS_ERR_AUTH, 0 },
	{ "MissingAuthenticationToken",		KMS_ERR_AUTH, 0 },
	{ "MissingAuthenticationTokenException", KMS_ERR_AUTH, 0 },
	{ "RequestExpired",			KMS_ERR_AUTH, 0 },
	{ "KMSInvalidStateException",		KMS_ERR_INVALID_STATE, 0 },
	{ "ThrottlingException",		KMS_ERR_THROTTLED, 1 },
	{ "Throttling",				KMS_ERR_THROTTLED, 1 },
	{ "LimitExceededException",		KMS_ERR_THROTTLED, 1 },
	{ "TooManyRequestsException",		KMS_ERR_THROTTLED, 1 },
	{ "RequestLimitExceeded",		KMS_ERR_THROTTLED, 1 },
	{ "KMSInternalException",		KMS_ERR_SERVER, 1 },
	{ "DependencyTimeoutException",		KMS_ERR_SERVER, 1 },
	{ "InternalFailure",			KMS_ERR_SERVER, 1 },
	{ "InternalServerError",		KMS_ERR_SERVER, 1 },
	{ "ServiceUnavailable",			KMS_ERR_SERVER, 1 },
	{ "ServiceUnavailableException",	KMS_ERR_SERVER, 1 },
	{ NULL,					KMS_ERR_OTHER, 0 }
};

static void
kms_classify_status(long status, struct kms_error *out)
{
	snprintf(out->code, sizeof(out->code), "HTTP %ld", status);
	out->retryable = 0;
	if (status >= 500 && status <= 599) {
		out->cls = KMS_ERR_SERVER;
		out->retryable = 1;
	} else if (status == 429) {
		out->cls = KMS_ERR_THROTTLED;
		out->retryable = 1;
	} else if (status == 403)
		out->cls = KMS_ERR_ACCESS_DENIED;
	else if (status == 401)
		out->cls = KMS_ERR_AUTH;
	else
		/* Not even a 404: only a real NotFoundException may say a
		 * key is gone. */
		out->cls = KMS_ERR_OTHER;
}

/* "com.amazonaws.kms#NotFoundException:http://..." -> "NotFoundException" */
static int
kms_extract_code(const char *type, char *code, size_t codelen)
{
	const char	*p, *end;
	size_t		 n, i;

	if ((p = strrchr(type, '#')) != NULL)
		p++;
	else
		p = type;
	if ((end = strchr(p, ':')) == NULL)
		end = p + strlen(p);
	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - p);
	if (n == 0 || n >= codelen)
		return -1;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '.' &&
		    p[i] != '_' && p[i] != '-')
			return -1;
	memcpy(code, p, n);
	code[n] = '\0';
	return 0;
}

/* No Content-Type, or a JSON one (KMS sends application/x-amz-json-1.1). */
static int
kms_ctype_is_json(const char *ctype)
{
	const char	*p;

	if (ctype == NULL)
		return 1;
	for (p = ctype; *p != '\0' && *p != ';'; p++)
		if (strncasecmp(p, "json", 4) == 0)
			return 1;
	return 0;
}

void
kms_classify_error(long status, const char *content_type, const char *body,
    size_t len, struct kms_error *out)
{
	const struct kms_code_class	*kc;
	json_t				*root = NULL, *t, *m;
	int				 found = 0;

	memset(out, 0, sizeof(*out));
	out->status = status;
	/* An HTML or text page (a proxy's, a load balancer's) is classified
	 * by its status, whatever words it contains. */
	if (body != NULL && len > 0 && kms_ctype_is_json(content_type))
		root = json_loadb(body, len, 0, NULL);
	if (root != NULL && json_is_object(root)) {
		t = json_object_get(root, "__type");
		if (t == NULL)
			t = json_object_get(root, "code");
		if (t == NULL)
			t = json_object_get(root, "Code");
		if (json_is_string(t) && kms_extract_code(json_string_value(t),
		    out->code, sizeof(out->code)) == 0)
			found = 1;
		m = json_object_get(root, "message");
		if (!json_is_string(m))
			m = json_object_get(root, "Message");
		if (json_is_string(m))
			kms_sanitize(out->message, sizeof(out->message),
			    json_string_value(m), json_string_length(m));
	}
	if (found) {
		for (kc = kms_codes; kc->code != NULL; kc++)
			if (strcmp(kc->code, out->code) == 0)
				break;
		out->cls = kc->cls;
		out->retryable = kc->retryable;
		if (kc->cls == KMS_ERR_NOT_FOUND && status != 400) {
			/*
			 * NotFoundException is the one code that is a verdict
			 * (key-deleted, "unrecoverable"): KMS sends it with
			 * 400 only.  On any other status it is some other
			 * server's page, judged by its status.
			 */
			kms_classify_status(status, out);
			(void)snprintf(out->message, sizeof(out->message),
			    "NotFoundException with HTTP %ld: not a KMS "
			    "answer, ignored", status);
		} else if (kc->code == NULL && status >= 500 && status <= 599) {
			/* An unknown code on a 5xx: a server-side failure. */
			out->cls = KMS_ERR_SERVER;
			out->retryable = 1;
		}
	} else {
		kms_classify_status(status, out);
		if (out->message[0] == '\0') {
			if (body == NULL || len == 0)
				snprintf(out->message, sizeof(out->message),
				    "empty error response");
			else if (root != NULL)
				snprintf(out->message, sizeof(out->message),
				    "error response without __type");
			else
				kms_sanitize(out->message,
				    sizeof(out->message) > 160 ? 160 :
				    sizeof(out->message), body, len);
		}
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* Typed parsing */

/* Absent or null: *out untouched and 0. */
int
kms_get_str(json_t *obj, const char *ctx, const char *name, char **out,
    int required, struct kms_error *err)
{
	json_t	*v = json_object_get(obj, name);

	if (v == NULL || json_is_null(v)) {
		if (required) {
			kms_malformed(err, "%s.%s is missing", ctx, name);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		kms_malformed(err, "%s.%s is %s, expected a string", ctx, name,
		    kms_json_type(v));
		return -1;
	}
	free(*out);
	if ((*out = strdup(json_string_value(v))) == NULL) {
		kms_malformed(err, "%s.%s: out of memory", ctx, name);
		return -1;
	}
	return 0;
}

static int
kms_get_bool(json_t *obj, const char *ctx, const char *name, int *out,
    int required, struct kms_error *err)
{
	json_t	*v = json_object_get(obj, name);

	if (v == NULL || json_is_null(v)) {
		if (required) {
			kms_malformed(err, "%s.%s is missing", ctx, name);
			return -1;
		}
		return 0;
	}
	if (!json_is_boolean(v)) {
		kms_malformed(err, "%s.%s is %s, expected a boolean", ctx,
		    name, kms_json_type(v));
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* Epoch seconds, possibly fractional. */
int
kms_get_time(json_t *obj, const char *ctx, const char *name, double *out,
    struct kms_error *err)
{
	json_t	*v = json_object_get(obj, name);
	double	 d;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		kms_malformed(err, "%s.%s is %s, expected epoch seconds", ctx,
		    name, kms_json_type(v));
		return -1;
	}
	d = json_number_value(v);
	/* Before 1970 or after year 5138: not a KMS timestamp. */
	if (!isfinite(d) || d < 0 || d > 1e11) {
		kms_malformed(err, "%s.%s is out of range (%g)", ctx, name, d);
		return -1;
	}
	*out = d;
	return 0;
}

static int
kms_get_int(json_t *obj, const char *ctx, const char *name, int *out,
    long min, long max, struct kms_error *err)
{
	json_t		*v = json_object_get(obj, name);
	json_int_t	 i;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		kms_malformed(err, "%s.%s is %s, expected an integer", ctx,
		    name, kms_json_type(v));
		return -1;
	}
	i = json_integer_value(v);
	if (i < min || i > max) {
		kms_malformed(err, "%s.%s is out of range (%lld)", ctx, name,
		    (long long)i);
		return -1;
	}
	*out = (int)i;
	return 0;
}

static void
kms_strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

void
kms_key_meta_free(struct kms_key_meta *m)
{
	if (m == NULL)
		return;
	free(m->key_id);
	free(m->arn);
	free(m->account);
	free(m->state);
	free(m->key_spec);
	free(m->key_usage);
	free(m->key_manager);
	free(m->origin);
	free(m->expiration_model);
	free(m->current_key_material_id);
	free(m->custom_key_store_id);
	free(m->multi_region_type);
	free(m->mr_primary_arn);
	kms_strv_free(m->mr_replicas, m->mr_nreplicas);
	free(m->description);
	memset(m, 0, sizeof(*m));
}

void
kms_key_meta_free_replicas(struct kms_key_meta *m)
{
	kms_strv_free(m->mr_replicas, m->mr_nreplicas);
	m->mr_replicas = NULL;
	m->mr_nreplicas = 0;
}

static int
kms_dup(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	return (*dst = strdup(src)) == NULL ? -1 : 0;
}

/* A copy of n strings (NULL when n is 0); 0 or -1 (*dst then NULL). */
static int
kms_strv_dup(char ***dst, char * const *src, size_t n)
{
	size_t	i;

	*dst = NULL;
	if (n == 0)
		return 0;
	if ((*dst = calloc(n, sizeof(**dst))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (((*dst)[i] = strdup(src[i])) == NULL) {
			kms_strv_free(*dst, i);
			*dst = NULL;
			return -1;
		}
	return 0;
}

int
kms_key_meta_copy(struct kms_key_meta *dst, const struct kms_key_meta *src)
{
	memset(dst, 0, sizeof(*dst));
	*dst = *src;
	if (kms_dup(&dst->key_id, src->key_id) == -1 ||
	    kms_dup(&dst->arn, src->arn) == -1 ||
	    kms_dup(&dst->account, src->account) == -1 ||
	    kms_dup(&dst->state, src->state) == -1 ||
	    kms_dup(&dst->key_spec, src->key_spec) == -1 ||
	    kms_dup(&dst->key_usage, src->key_usage) == -1 ||
	    kms_dup(&dst->key_manager, src->key_manager) == -1 ||
	    kms_dup(&dst->origin, src->origin) == -1 ||
	    kms_dup(&dst->expiration_model, src->expiration_model) == -1 ||
	    kms_dup(&dst->current_key_material_id,
	    src->current_key_material_id) == -1 ||
	    kms_dup(&dst->custom_key_store_id, src->custom_key_store_id) ==
	    -1 ||
	    kms_dup(&dst->multi_region_type, src->multi_region_type) == -1 ||
	    kms_dup(&dst->mr_primary_arn, src->mr_primary_arn) == -1 ||
	    kms_strv_dup(&dst->mr_replicas, src->mr_replicas,
	    src->mr_nreplicas) == -1 ||
	    kms_dup(&dst->description, src->description) == -1) {
		/* Pointers not yet copied still alias src: clear them. */
		struct kms_key_meta	tmp;

		memset(&tmp, 0, sizeof(tmp));
#define KMS_TAKE(f) do { if (dst->f != src->f) tmp.f = dst->f; } while (0)
		KMS_TAKE(key_id);
		KMS_TAKE(arn);
		KMS_TAKE(account);
		KMS_TAKE(state);
		KMS_TAKE(key_spec);
		KMS_TAKE(key_usage);
		KMS_TAKE(key_manager);
		KMS_TAKE(origin);
		KMS_TAKE(expiration_model);
		KMS_TAKE(current_key_material_id);
		KMS_TAKE(custom_key_store_id);
		KMS_TAKE(multi_region_type);
		KMS_TAKE(mr_primary_arn);
		KMS_TAKE(description);
		if (dst->mr_replicas != src->mr_replicas) {
			tmp.mr_replicas = dst->mr_replicas;
			tmp.mr_nreplicas = dst->mr_nreplicas;
		}
#undef KMS_TAKE
		kms_key_meta_free(&tmp);
		memset(dst, 0, sizeof(*dst));
		return -1;
	}
	return 0;
}

/* The ARN of one MultiRegionKey ({"Arn", "Region"}) into *out. */
static int
kms_mr_key_arn(json_t *k, const char *ctx, char **out, struct kms_error *err)
{
	if (!json_is_object(k)) {
		kms_malformed(err, "%s is %s, expected an object", ctx,
		    kms_json_type(k));
		return -1;
	}
	if (kms_get_str(k, ctx, "Arn", out, 1, err) == -1)
		return -1;
	if ((*out)[0] == '\0') {
		kms_malformed(err, "%s.Arn is empty", ctx);
		return -1;
	}
	return 0;
}

/*
 * MultiRegionConfiguration's PrimaryKey and ReplicaKeys: the daemon
 * watches a primary's replicas under their own ARNs (KMS copies neither
 * their policy nor their state).
 */
static int
kms_parse_mr_keys(json_t *mrc, struct kms_key_meta *m, struct kms_error *err)
{
	static const char	 ctx[] = "KeyMetadata.MultiRegionConfiguration";
	json_t			*pk, *rk;
	char			 where[96];
	size_t			 i, n;

	pk = json_object_get(mrc, "PrimaryKey");
	if (pk != NULL && !json_is_null(pk) && kms_mr_key_arn(pk,
	    "KeyMetadata.MultiRegionConfiguration.PrimaryKey",
	    &m->mr_primary_arn, err) == -1)
		return -1;
	rk = json_object_get(mrc, "ReplicaKeys");
	if (rk == NULL || json_is_null(rk))
		return 0;
	if (!json_is_array(rk)) {
		kms_malformed(err, "%s.ReplicaKeys is %s, expected an array",
		    ctx, kms_json_type(rk));
		return -1;
	}
	if ((n = json_array_size(rk)) == 0)
		return 0;
	if (n > KMS_MAX_REPLICAS) {
		kms_malformed(err, "%s.ReplicaKeys has %zu entries, more than "
		    "the %d KMS allows", ctx, n, KMS_MAX_REPLICAS);
		return -1;
	}
	if ((m->mr_replicas = calloc(n, sizeof(*m->mr_replicas))) == NULL) {
		kms_malformed(err, "%s.ReplicaKeys: out of memory", ctx);
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* Counted first: a failure frees what was parsed. */
		m->mr_nreplicas++;
		(void)snprintf(where, sizeof(where), "%s.ReplicaKeys[%zu]",
		    ctx, i);
		if (kms_mr_key_arn(json_array_get(rk, i), where,
		    &m->mr_replicas[i], err) == -1)
			return -1;
	}
	return 0;
}

/*
 * DescribeKey's answer in one pass (lib/jscan), as kms_parse_key_meta()'s
 * jansson path reads it: a string member null or absent leaves its field
 * NULL, times and PendingDeletionWindowInDays likewise 0.  Anything that
 * path would refuse (a wrong type, a missing required member, a value
 * out of range) and a MultiRegionConfiguration (rare, and nested) are
 * left to it: -1, m partly filled (the caller frees it).
 */
struct kms_meta_str {
	const char	*name;
	size_t		 off;		/* of the char * in kms_key_meta */
};

static const struct kms_meta_str kms_meta_strs[] = {
	{ "KeyId", offsetof(struct kms_key_meta, key_id) },
	{ "Arn", offsetof(struct kms_key_meta, arn) },
	{ "AWSAccountId", offsetof(struct kms_key_meta, account) },
	{ "KeyState", offsetof(struct kms_key_meta, state) },
	{ "KeySpec", offsetof(struct kms_key_meta, key_spec) },
	{ "KeyUsage", offsetof(struct kms_key_meta, key_usage) },
	{ "KeyManager", offsetof(struct kms_key_meta, key_manager) },
	{ "Origin", offsetof(struct kms_key_meta, origin) },
	{ "ExpirationModel", offsetof(struct kms_key_meta, expiration_model) },
	{ "CurrentKeyMaterialId",
	    offsetof(struct kms_key_meta, current_key_material_id) },
	{ "CustomKeyStoreId",
	    offsetof(struct kms_key_meta, custom_key_store_id) },
	{ "Description", offsetof(struct kms_key_meta, description) },
};

/* A string member into *out (null: left NULL). */
static int
kms_scan_str(struct jscan *s, char **out)
{
	struct jscan_str	str;

	if (jscan_peek(s) == 'n')
		return jscan_skip(s);
	if (jscan_peek(s) != '"' || jscan_string(s, &str) == -1 ||
	    *out != NULL || (*out = malloc(str.len + 1)) == NULL)
		return -1;
	(void)jscan_decode(&str, *out);
	return 0;
}

/* A boolean member (null: left 0). */
static int
kms_scan_bool(struct jscan *s, int *out)
{
	int	c = jscan_peek(s);

	if (c != 't' && c != 'f' && c != 'n')
		return -1;
	*out = (c == 't');
	return jscan_skip(s);
}

/* A number member in [min, max], an integer when integer is set (null:
 * left 0). */
static int
kms_scan_num(struct jscan *s, double *out, int integer, double min,
    double max)
{
	double	d;
	int	isint;

	if (jscan_peek(s) == 'n')
		return jscan_skip(s);
	if (jscan_number(s, &d, &isint) == -1 || (integer && !isint) ||
	    !(d >= min && d <= max))
		return -1;
	*out = d;
	return 0;
}

static int
kms_scan_meta_member(struct jscan *s, const struct jscan_str *name,
    struct kms_key_meta *m, char **cmk_spec)
{
	size_t	i;
	double	d = 0;

	for (i = 0; i < sizeof(kms_meta_strs) / sizeof(kms_meta_strs[0]); i++)
		if (jscan_is(name, kms_meta_strs[i].name))
			return kms_scan_str(s, (char **)(void *)((char *)m +
			    kms_meta_strs[i].off));
	if (jscan_is(name, "CustomerMasterKeySpec"))
		return kms_scan_str(s, cmk_spec);
	if (jscan_is(name, "Enabled"))
		return kms_scan_bool(s, &m->enabled);
	if (jscan_is(name, "MultiRegion"))
		return kms_scan_bool(s, &m->multi_region);
	/* Before 1970 or after year 5138: not a KMS timestamp. */
	if (jscan_is(name, "CreationDate"))
		return kms_scan_num(s, &m->creation_date, 0, 0, 1e11);
	if (jscan_is(name, "DeletionDate"))
		return kms_scan_num(s, &m->deletion_date, 0, 0, 1e11);
	if (jscan_is(name, "ValidTo"))
		return kms_scan_num(s, &m->valid_to, 0, 0, 1e11);
	if (jscan_is(name, "PendingDeletionWindowInDays")) {
		if (kms_scan_num(s, &d, 1, 0, 365) == -1)
			return -1;
		m->pending_window_days = (int)d;
		return 0;
	}
	if (jscan_is(name, "MultiRegionConfiguration"))
		return jscan_peek(s) == 'n' ? jscan_skip(s) : -1;
	return jscan_skip(s);
}

int
kms_scan_key_meta(const char *body, size_t len, struct kms_key_meta *m)
{
	struct jscan		s;
	struct jscan_names	names, mnames;
	struct jscan_str	name;
	char			*cmk_spec = NULL;
	int			first = 1, mfirst, found = 0, r, mr;

	jscan_init(&s, body, len);
	names.n = 0;
	if (jscan_expect(&s, '{') == -1)
		return -1;
	while ((r = jscan_member(&s, &first, &names, &name)) == 1) {
		if (!jscan_is(&name, "KeyMetadata")) {
			if (jscan_skip(&s) == -1)
				goto fail;
			continue;
		}
		if (jscan_expect(&s, '{') == -1)
			goto fail;
		found = 1;
		mfirst = 1;
		mnames.n = 0;
		while ((mr = jscan_member(&s, &mfirst, &mnames, &name)) == 1)
			if (kms_scan_meta_member(&s, &name, m, &cmk_spec) == -1)
				goto fail;
		if (mr == -1)
			goto fail;
	}
	if (r == -1 || !found || jscan_end(&s) == -1)
		goto fail;
	/* KeySpec's predecessor, still sent by some endpoints. */
	if (m->key_spec == NULL) {
		m->key_spec = cmk_spec;
		cmk_spec = NULL;
	}
	free(cmk_spec);
	/* What the jansson path requires. */
	return m->key_id != NULL && m->arn != NULL && m->state != NULL &&
	    m->key_spec != NULL && m->key_usage != NULL &&
	    m->key_manager != NULL ? 0 : -1;
fail:
	free(cmk_spec);
	return -1;
}

int
kms_parse_key_meta(const char *body, size_t len, struct kms_key_meta *out,
    struct kms_error *err)
{
	memset(out, 0, sizeof(*out));
	if (body != NULL && kms_scan_key_meta(body, len, out) == 0)
		return 0;
	kms_key_meta_free(out);
	return kms_parse_key_meta_tree(body, len, out, err);
}

int
kms_parse_key_meta_tree(const char *body, size_t len,
    struct kms_key_meta *out, struct kms_error *err)
{
	static const char	 ctx[] = "KeyMetadata";
	json_t			*root, *km, *mrc;
	struct kms_key_meta	 m;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&m, 0, sizeof(m));
	if ((root = kms_load_object(body, len, "DescribeKey", err)) == NULL)
		return -1;
	km = json_object_get(root, "KeyMetadata");
	if (km == NULL || json_is_null(km)) {
		kms_malformed(err, "DescribeKey: KeyMetadata is missing");
		goto done;
	}
	if (!json_is_object(km)) {
		kms_malformed(err, "DescribeKey: KeyMetadata is %s, expected "
		    "an object", kms_json_type(km));
		goto done;
	}
	/*
	 * KMS always sends these, and the checks judge the key by them: an
	 * answer without one is malformed (check-failed), never a key that
	 * does not suit the vendor.
	 */
	if (kms_get_str(km, ctx, "KeyId", &m.key_id, 1, err) == -1 ||
	    kms_get_str(km, ctx, "Arn", &m.arn, 1, err) == -1 ||
	    kms_get_str(km, ctx, "AWSAccountId", &m.account, 0, err) == -1 ||
	    kms_get_str(km, ctx, "KeyState", &m.state, 1, err) == -1 ||
	    kms_get_str(km, ctx, "KeySpec", &m.key_spec, 0, err) == -1 ||
	    kms_get_str(km, ctx, "KeyUsage", &m.key_usage, 1, err) == -1 ||
	    kms_get_str(km, ctx, "KeyManager", &m.key_manager, 1, err) == -1 ||
	    kms_get_str(km, ctx, "Origin", &m.origin, 0, err) == -1 ||
	    kms_get_str(km, ctx, "ExpirationModel", &m.expiration_model, 0,
	    err) == -1 ||
	    kms_get_str(km, ctx, "CurrentKeyMaterialId",
	    &m.current_key_material_id, 0, err) == -1 ||
	    kms_get_str(km, ctx, "CustomKeyStoreId", &m.custom_key_store_id,
	    0, err) == -1 ||
	    kms_get_str(km, ctx, "Description", &m.description, 0, err) == -1 ||
	    kms_get_bool(km, ctx, "Enabled", &m.enabled, 0, err) == -1 ||
	    kms_get_bool(km, ctx, "MultiRegion", &m.multi_region, 0, err) ==
	    -1 ||
	    kms_get_time(km, ctx, "CreationDate", &m.creation_date, err) ==
	    -1 ||
	    kms_get_time(km, ctx, "DeletionDate", &m.deletion_date, err) ==
	    -1 ||
	    kms_get_time(km, ctx, "ValidTo", &m.valid_to, err) == -1 ||
	    kms_get_int(km, ctx, "PendingDeletionWindowInDays",
	    &m.pending_window_days, 0, 365, err) == -1)
		goto done;
	/* KeySpec's predecessor, still sent by some endpoints. */
	if (m.key_spec == NULL && kms_get_str(km, ctx,
	    "CustomerMasterKeySpec", &m.key_spec, 0, err) == -1)
		goto done;
	if (m.key_spec == NULL) {
		kms_malformed(err, "%s.KeySpec is missing", ctx);
		goto done;
	}
	mrc = json_object_get(km, "MultiRegionConfiguration");
	if (mrc != NULL && !json_is_null(mrc)) {
		if (!json_is_object(mrc)) {
			kms_malformed(err, "KeyMetadata.MultiRegionConfiguration"
			    " is %s, expected an object", kms_json_type(mrc));
			goto done;
		}
		if (kms_get_str(mrc, "KeyMetadata.MultiRegionConfiguration",
		    "MultiRegionKeyType", &m.multi_region_type, 0, err) == -1 ||
		    kms_parse_mr_keys(mrc, &m, err) == -1)
			goto done;
	}
	*out = m;
	memset(&m, 0, sizeof(m));
	rc = 0;
done:
	kms_key_meta_free(&m);
	json_decref(root);
	return rc;
}

/*
 * An answer is only a verdict about the key that was asked for.  A proxy,
 * a cache or a misrouted endpoint can answer for another key, account or
 * region; taking that as the watched key's state would be a false OK (or
 * a false page).  DescribeKey on an alias answers with the alias's target,
 * which must still live in the alias's account and region; a multi-Region
 * replica answers with its own ARN, which is what is configured for it.
 */
int
kms_key_meta_identity(const char *requested, const char *region,
    const struct kms_key_meta *m, struct kms_error *err)
{
	struct arn	 got, want;
	char		 why[128];

	if (m->arn == NULL || m->key_id == NULL) {
		kms_malformed(err, "DescribeKey: the answer names no key");
		goto mismatch;
	}
	if (arn_parse(m->arn, &got, why, sizeof(why)) == -1 ||
	    got.kind != ARN_KMS_KEY) {
		kms_malformed(err, "DescribeKey: KeyMetadata.Arn \"%.100s\" "
		    "is not a key ARN", m->arn);
		goto mismatch;
	}
	if (strcasecmp(m->key_id, got.resource) != 0) {
		kms_malformed(err, "DescribeKey: KeyId %.60s does not match "
		    "Arn %.120s", m->key_id, m->arn);
		goto mismatch;
	}
	if (strncmp(requested, "arn:", 4) == 0) {
		if (arn_parse(requested, &want, why, sizeof(why)) == -1)
			return 0;	/* not ours to judge */
		if (strcmp(want.partition, got.partition) != 0 ||
		    strcmp(want.region, got.region) != 0 ||
		    strcmp(want.account, got.account) != 0 ||
		    (want.kind == ARN_KMS_KEY &&
		    strcasecmp(want.resource, got.resource) != 0))
			goto other;
		return 0;
	}
	if (region != NULL && strcmp(region, got.region) != 0)
		goto other;
	if (strncmp(requested, "alias/", 6) != 0 &&
	    strcasecmp(requested, got.resource) != 0)
		goto other;
	return 0;
other:
	kms_malformed(err, "DescribeKey for %.150s answered for another key: "
	    "%.150s", requested, m->arn);
mismatch:
	(void)snprintf(err->code, sizeof(err->code), "KeyMismatch");
	return -1;
}

/*
 * GetKeyPolicy's answer read in one pass (lib/jscan): the policy is a
 * JSON text inside a JSON string, and a jansson tree of the answer only
 * to copy that string out cost about a fifth of a key check's CPU.  0
 * with the policy, or -1 for anything the reader is not sure of (then
 * jansson reads it: same values, same errors).
 */
int
kms_scan_policy(const char *body, size_t len, char **policy)
{
	struct jscan		s;
	struct jscan_names	names;
	struct jscan_str	name, str;
	int			first = 1, found = 0, r;

	jscan_init(&s, body, len);
	names.n = 0;
	memset(&str, 0, sizeof(str));
	if (jscan_expect(&s, '{') == -1)
		return -1;
	while ((r = jscan_member(&s, &first, &names, &name)) == 1) {
		if (!jscan_is(&name, "Policy")) {
			if (jscan_skip(&s) == -1)
				return -1;
			continue;
		}
		/* null or another type: jansson says what it is. */
		if (jscan_peek(&s) != '"' || jscan_string(&s, &str) == -1)
			return -1;
		found = 1;
	}
	if (r == -1 || !found || jscan_end(&s) == -1)
		return -1;
	if ((*policy = malloc(str.len + 1)) == NULL)
		return -1;
	(void)jscan_decode(&str, *policy);
	return 0;
}

int
kms_parse_policy(const char *body, size_t len, char **policy,
    struct kms_error *err)
{
	*policy = NULL;
	if (body != NULL && kms_scan_policy(body, len, policy) == 0)
		return 0;
	return kms_parse_policy_tree(body, len, policy, err);
}

int
kms_parse_policy_tree(const char *body, size_t len, char **policy,
    struct kms_error *err)
{
	json_t	*root;
	int	 rc;

	*policy = NULL;
	if ((root = kms_load_object(body, len, "GetKeyPolicy", err)) == NULL)
		return -1;
	rc = kms_get_str(root, "GetKeyPolicy", "Policy", policy, 1, err);
	json_decref(root);
	return rc;
}

int
kms_parse_rotation(const char *body, size_t len, struct kms_rotation *out,
    struct kms_error *err)
{
	static const char	 ctx[] = "GetKeyRotationStatus";
	json_t			*root;
	struct kms_rotation	 r;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if ((root = kms_load_object(body, len, ctx, err)) == NULL)
		return -1;
	if (kms_get_bool(root, ctx, "KeyRotationEnabled", &r.enabled, 1,
	    err) == -1 ||
	    kms_get_int(root, ctx, "RotationPeriodInDays", &r.period_days, 0,
	    100000, err) == -1 ||
	    kms_get_time(root, ctx, "NextRotationDate", &r.next_rotation,
	    err) == -1)
		goto done;
	*out = r;
	rc = 0;
done:
	json_decref(root);
	return rc;
}

void
kms_aliases_free(struct kms_alias *a, size_t n)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].arn);
		free(a[i].target_key_id);
	}
	free(a);
}

int
kms_get_array(json_t *obj, const char *ctx, const char *name, json_t **arr,
    struct kms_error *err)
{
	json_t	*v = json_object_get(obj, name);

	*arr = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		kms_malformed(err, "%s.%s is %s, expected an array", ctx, name,
		    kms_json_type(v));
		return -1;
	}
	*arr = v;
	return 0;
}

/* Truncated/NextMarker of a paginated answer's page. */
int
kms_parse_marker(json_t *root, const char *ctx, char **next_marker,
    struct kms_error *err)
{
	int	truncated = 0;
	char	*marker = NULL;

	*next_marker = NULL;
	if (kms_get_bool(root, ctx, "Truncated", &truncated, 0, err) == -1 ||
	    kms_get_str(root, ctx, "NextMarker", &marker, 0, err) == -1) {
		free(marker);
		return -1;
	}
	if (truncated && (marker == NULL || marker[0] == '\0')) {
		free(marker);
		kms_malformed(err, "%s: Truncated without a NextMarker", ctx);
		return -1;
	}
	if (!truncated) {
		free(marker);
		marker = NULL;
	}
	*next_marker = marker;
	return 0;
}

json_t *
kms_page_open(const char *body, size_t len, const char *ctx,
    const char *member, size_t have, size_t max, json_t **arr, size_t *n,
    char **next_marker, struct kms_error *err)
{
	json_t	*root, *a;
	size_t	 i;

	*next_marker = NULL;
	*arr = NULL;
	*n = 0;
	if ((root = kms_load_object(body, len, ctx, err)) == NULL)
		return NULL;
	a = json_object_get(root, member);
	if (a != NULL && !json_is_null(a)) {
		if (!json_is_array(a)) {
			kms_malformed(err, "%s.%s is %s, expected an array",
			    ctx, member, kms_json_type(a));
			goto fail;
		}
		*n = json_array_size(a);
		*arr = a;
	}
	if (have + *n > max) {
		kms_malformed(err, "%s: more than %zu %s", ctx, max, member);
		goto fail;
	}
	for (i = 0; i < *n; i++)
		if (!json_is_object(json_array_get(a, i))) {
			kms_malformed(err, "%s.%s[%zu] is %s, expected an "
			    "object", ctx, member, i,
			    kms_json_type(json_array_get(a, i)));
			goto fail;
		}
	if (kms_parse_marker(root, ctx, next_marker, err) == -1)
		goto fail;
	return root;
fail:
	json_decref(root);
	*arr = NULL;
	*n = 0;
	return NULL;
}

int
kms_parse_aliases(const char *body, size_t len, struct kms_alias **aliases,
    size_t *naliases, char **next_marker, struct kms_error *err)
{
	static const char	 ctx[] = "ListAliases";
	json_t			*root, *arr, *el;
	struct kms_alias	*na = NULL, *a;
	size_t			 i, n, base = *naliases;
	char			 elctx[64];
	int			 rc = -1;

	if ((root = kms_page_open(body, len, ctx, "Aliases", base,
	    KMS_MAX_ALIASES, &arr, &n, next_marker, err)) == NULL)
		return -1;
	if (n == 0) {
		rc = 0;
		goto done;
	}
	if ((na = reallocarray(*aliases, base + n, sizeof(*na))) == NULL) {
		kms_malformed(err, "ListAliases: out of memory");
		goto undo_marker;
	}
	*aliases = na;
	memset(na + base, 0, n * sizeof(*na));
	for (i = 0; i < n; i++) {
		el = json_array_get(arr, i);
		a = &na[base + i];
		snprintf(elctx, sizeof(elctx), "ListAliases.Aliases[%zu]", i);
		if (kms_get_str(el, elctx, "AliasName", &a->name, 1, err) ==
		    -1 ||
		    kms_get_str(el, elctx, "AliasArn", &a->arn, 0, err) == -1 ||
		    kms_get_str(el, elctx, "TargetKeyId", &a->target_key_id, 0,
		    err) == -1)
			goto undo;
	}
	*naliases = base + n;
	rc = 0;
	goto done;
undo:
	for (i = 0; i < n; i++) {
		free(na[base + i].name);
		free(na[base + i].arn);
		free(na[base + i].target_key_id);
	}
	memset(na + base, 0, n * sizeof(*na));
undo_marker:
	free(*next_marker);
	*next_marker = NULL;
done:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Backoff, token bucket, dates */

long
kms_backoff_ms(int retry, long base_ms, long cap_ms, double rnd)
{
	double	ceiling;

	if (retry < 1)
		retry = 1;
	if (base_ms < 0)
		base_ms = 0;
	if (cap_ms < 0)
		cap_ms = 0;
	if (rnd < 0 || !(rnd < 1))
		rnd = 0;
	/* 2^62 overflows nothing in a double; the cap bounds it anyway. */
	ceiling = (double)base_ms * ldexp(1.0, retry > 62 ? 62 : retry - 1);
	if (ceiling > (double)cap_ms)
		ceiling = (double)cap_ms;
	return (long)(rnd * (ceiling + 1));
}

void
kms_bucket_init(struct kms_bucket *b, double rate, double burst, double now)
{
	b->rate = rate > 0 ? rate : KMS_DEF_RATE;
	b->burst = burst >= 1 ? burst : 1;
	b->tokens = b->burst;
	b->last = now;
}

double
kms_bucket_take(struct kms_bucket *b, double now)
{
	if (now > b->last) {
		b->tokens += (now - b->last) * b->rate;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last = now;
	}
	/* Tolerate rounding: 0.1 s at 10/s must make a whole token. */
	if (b->tokens >= 1 - 1e-9) {
		b->tokens -= 1;
		if (b->tokens < 0)
			b->tokens = 0;
		return 0;
	}
	return (1 - b->tokens) / b->rate;
}

int
kms_parse_http_date(const char *s, time_t *out)
{
	static const char	*months[] = { "Jan", "Feb", "Mar", "Apr", "May",
				    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
				    "Dec" };
	char			 wday[4], mon[4], zone[4];
	struct tm		 tm;
	int			 i, n = 0;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	/* Not strptime: %a/%b would follow the locale. */
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s%n",
	    wday, &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, zone, &n) != 8 || s[n] != '\0' ||
	    strcmp(zone, "GMT") != 0)
		return -1;
	for (i = 0; i < 12; i++)
		if (strcmp(mon, months[i]) == 0)
			break;
	if (i == 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_year < 1970 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	tm.tm_mon = i;
	tm.tm_year -= 1900;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

/*
 * The server's time from a SigV4 time error's message, as AWS words it:
 * "Signature expired: 20261128T215118Z is now earlier than
 * 20261128T215618Z (20261128T220118Z - 5 min.)".  The parenthesised time
 * is the clock the signature was checked against.
 */
int
kms_parse_skew_message(const char *msg, time_t *out)
{
	const char	*p;
	struct tm	 tm;
	char		 sign;
	int		 n;

	for (p = msg; p != NULL && (p = strchr(p, '(')) != NULL; p++) {
		memset(&tm, 0, sizeof(tm));
		n = 0;
		if (sscanf(p, "(%4d%2d%2dT%2d%2d%2dZ %c%n", &tm.tm_year,
		    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		    &tm.tm_sec, &sign, &n) != 7 || (sign != '-' && sign != '+'))
			continue;
		if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
		    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
		    tm.tm_min > 59 || tm.tm_sec > 60)
			continue;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		if ((*out = timegm(&tm)) == (time_t)-1)
			continue;
		return 0;
	}
	return -1;
}

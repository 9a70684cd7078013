/*
 * lib/kms, one module in two files: kms.c (requests and answers, pure)
 * and kms_client.c (the loop client).
 *
 * The KMS client: JSON 1.1 requests, SigV4-signed, sent through lib/http
 * with retries (capped, jittered exponential backoff), a token-bucket rate
 * limit per account+region, a cap on requests in flight per endpoint, and
 * typed results.  Response parsing and error classification are pure
 * functions (fuzzed).
 */
#ifndef KEYHEALTHD_KMS_H
#define KEYHEALTHD_KMS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "keyid.h"
#include "sigv4.h"

struct event_base;
struct http;
struct kms_keystore;
struct kms_materials;
struct json_t;

enum kms_errclass {
	KMS_OK = 0,
	KMS_ERR_NOT_FOUND,	/* NotFoundException */
	KMS_ERR_ACCESS_DENIED,	/* AccessDeniedException */
	KMS_ERR_AUTH,		/* UnrecognizedClient, InvalidSignature,
				 * ExpiredToken, IncompleteSignature, no
				 * credentials */
	KMS_ERR_INVALID_STATE,	/* KMSInvalidStateException */
	KMS_ERR_THROTTLED,	/* Throttling/LimitExceeded, after retries */
	KMS_ERR_SERVER,		/* KMSInternal, DependencyTimeout, 5xx,
				 * after retries */
	KMS_ERR_TRANSPORT,	/* connect, timeout, reset, after retries */
	KMS_ERR_MALFORMED,	/* a response not shaped as the API says */
	KMS_ERR_OTHER		/* any other error code */
};

struct kms_error {
	enum kms_errclass	cls;
	char			code[64];	/* "ThrottlingException",
						 * "HTTP 502", "Timeout" */
	char			message[256];	/* never a secret */
	long			status;		/* HTTP status; 0 transport */
	int			attempts;
	int			retryable;	/* the class is retried */
};

/* DescribeKey's KeyMetadata.  Strings NULL when absent; times 0. */
struct kms_key_meta {
	char	*key_id;
	char	*arn;
	char	*account;		/* AWSAccountId */
	char	*state;			/* KeyState as sent: "Enabled", ... */
	char	*key_spec;
	char	*key_usage;
	char	*key_manager;		/* "CUSTOMER" / "AWS" */
	char	*origin;		/* "AWS_KMS", "EXTERNAL", ... */
	char	*expiration_model;	/* imported material */
	char	*current_key_material_id;
	char	*custom_key_store_id;
	char	*multi_region_type;	/* "PRIMARY", "REPLICA" or NULL */
	/* MultiRegionConfiguration: PrimaryKey.Arn and ReplicaKeys[].Arn
	 * (a replica's list holds itself too). */
	char	*mr_primary_arn;
	char	**mr_replicas;
	size_t	 mr_nreplicas;
	char	*description;
	int	 enabled;
	int	 multi_region;
	double	 creation_date;
	double	 deletion_date;		/* PendingDeletion */
	double	 valid_to;		/* imported material */
	int	 pending_window_days;	/* PendingReplicaDeletion */
};

struct kms_rotation {
	int	 enabled;		/* KeyRotationEnabled */
	int	 period_days;		/* RotationPeriodInDays, 0 absent */
	double	 next_rotation;		/* NextRotationDate, 0 absent */
};

/* GetKeyLastUsage (kms_usage.c): the last successful cryptographic
 * operation with the key, if KMS recorded one since it began tracking
 * the key.  Strings NULL when absent; times 0. */
struct kms_key_usage {
	int	 used;			/* KeyLastUsage present */
	char	*operation;		/* "Decrypt", ... */
	char	*cloudtrail_event_id;
	char	*request_id;		/* KmsRequestId */
	double	 timestamp;		/* of that use */
	double	 tracking_start;	/* TrackingStartDate */
	double	 key_creation;		/* KeyCreationDate */
};

struct kms_alias {
	char	*name;			/* "alias/x" */
	char	*arn;
	char	*target_key_id;		/* NULL for an alias with no key */
};

enum kms_op {
	KMS_OP_DESCRIBE_KEY,
	KMS_OP_GET_KEY_POLICY,
	KMS_OP_GET_KEY_ROTATION_STATUS,
	KMS_OP_LIST_ALIASES,
	KMS_OP_LIST_GRANTS,
	KMS_OP_LIST_KEYS,
	KMS_OP_LIST_KEY_ROTATIONS,		/* kms_material.h */
	KMS_OP_DESCRIBE_CUSTOM_KEY_STORES,	/* kms_keystore.h */
	KMS_OP_GET_KEY_LAST_USAGE		/* kms_usage.c */
};

/* One entry of ListKeys. */
struct kms_listed_key {
	char	*key_id;
	char	*arn;			/* KeyArn */
};

/* One operation's outcome, owned by the client; valid during the callback
 * only (copy or steal what you keep: stolen pointers are set to NULL). */
struct kms_result {
	enum kms_op		 op;
	struct kms_error	 err;		/* cls == KMS_OK on success */
	struct kms_key_meta	 meta;		/* DESCRIBE_KEY */
	char			*policy;	/* GET_KEY_POLICY: JSON text */
	struct kms_rotation	 rotation;	/* GET_KEY_ROTATION_STATUS */
	struct kms_alias	*aliases;	/* LIST_ALIASES, all pages */
	size_t			 naliases;
	size_t			 ngrants;	/* LIST_GRANTS, all pages */
	struct kms_listed_key	*keys;		/* LIST_KEYS, all pages */
	size_t			 nkeys;
	struct kms_materials	*materials;	/* LIST_KEY_ROTATIONS, all
						 * pages */
	struct kms_keystore	*keystore;	/* DESCRIBE_CUSTOM_KEY_STORES */
	struct kms_key_usage	 usage;		/* GET_KEY_LAST_USAGE */
	struct json_t		*grants;	/* LIST_GRANTS, all pages: an
						 * array of canonical grants
						 * (kms_grants.h) */
	double			 elapsed;	/* seconds, all attempts */
};

typedef void (*kms_cb)(struct kms_result *res, void *arg);

/* Where and as whom a request goes. */
struct kms_target {
	/* The key's identity: its region signs the requests, its region
	 * and account pick the rate limiter's bucket.  Borrowed. */
	const struct keyid *id;
	const char	*endpoint;	/* full base URL, from endpoint_kms() */
	/* Current credentials: fills out (pointers valid until the next
	 * event-loop turn) and returns 0, or -1 with a reason in err. */
	int		(*get_creds)(void *arg, struct sigv4_creds *out,
			    char *err, size_t errlen);
	void		*creds_arg;
};

/* The client's defaults for kms_opts left 0 (KMS_DEF_RATE also of a
 * bucket initialised with none); lib/config derives the kms: options'
 * defaults from them. */
#define KMS_DEF_MAX_ATTEMPTS	4
#define KMS_DEF_RATE		10.0
#define KMS_DEF_MAX_INFLIGHT	16

struct kms_opts {
	int	 max_attempts;		/* default KMS_DEF_MAX_ATTEMPTS */
	long	 backoff_base_ms;	/* default 200 */
	long	 backoff_cap_ms;	/* default 10000 */
	double	 rate_per_second;	/* per account+region; KMS_DEF_RATE */
	double	 burst;			/* default 20 */
	int	 max_inflight;		/* per endpoint; KMS_DEF_MAX_INFLIGHT */
};

struct kms_client;

/* opts may be NULL for defaults.  The caller frees with kms_client_free(),
 * before http (which must outlive the client). */
struct kms_client *kms_client_new(struct event_base *base, struct http *http,
	    const struct kms_opts *opts, char *err, size_t errlen);
/* Cancels what is in flight (callbacks run with a "cancelled" transport
 * error) and frees. */
void	kms_client_free(struct kms_client *c);
size_t	kms_client_inflight(const struct kms_client *c);

/* Start an operation; cb runs exactly once, later, from the loop.
 * Returns 0, or -1 with err set (then cb does not run). */
int	kms_describe_key(struct kms_client *c, const struct kms_target *t,
	    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen);
int	kms_get_key_policy(struct kms_client *c, const struct kms_target *t,
	    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen);
int	kms_get_key_rotation_status(struct kms_client *c,
	    const struct kms_target *t, const char *key_id, kms_cb cb,
	    void *arg, char *err, size_t errlen);
int	kms_list_aliases(struct kms_client *c, const struct kms_target *t,
	    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen);
int	kms_list_grants(struct kms_client *c, const struct kms_target *t,
	    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen);
/* ListKeys of the target's account and region, every page (kms_discover.c
 * parses them). */
int	kms_list_keys(struct kms_client *c, const struct kms_target *t,
	    kms_cb cb, void *arg, char *err, size_t errlen);
/* Its quota is 5 requests/s per account and region (DescribeKey's is
 * 2,000): besides the shared bucket each attempt waits for a token of
 * the account+region's low-quota bucket (1/s, shared with
 * DescribeCustomKeyStores) before it takes an endpoint slot. */
int	kms_get_key_last_usage(struct kms_client *c,
	    const struct kms_target *t, const char *key_id, kms_cb cb,
	    void *arg, char *err, size_t errlen);

/* Pure parsing (fuzz targets).  0, or -1 with err->cls KMS_ERR_MALFORMED. */
int	kms_parse_key_meta(const char *body, size_t len,
	    struct kms_key_meta *out, struct kms_error *err);
/*
 * Whether m answers for requested (the KeyId, key ARN, alias name or
 * alias ARN that DescribeKey was given) in region (the request's; NULL:
 * not compared): the same key for a key ARN or id, a key of the alias's
 * account and region for an alias, and KeyId consistent with Arn.  0, or
 * -1 with err->cls KMS_ERR_MALFORMED and code "KeyMismatch".
 */
int	kms_key_meta_identity(const char *requested, const char *region,
	    const struct kms_key_meta *m, struct kms_error *err);
int	kms_parse_policy(const char *body, size_t len, char **policy,
	    struct kms_error *err);
int	kms_parse_rotation(const char *body, size_t len,
	    struct kms_rotation *out, struct kms_error *err);
/* Classifies an error response by __type (code after the last '#', before
 * any ':'), else by status for non-JSON bodies or a non-JSON
 * content_type (NULL: not sent).  NotFoundException counts only with
 * status 400. */
void	kms_classify_error(long status, const char *content_type,
	    const char *body, size_t len, struct kms_error *out);
const char *kms_errclass_name(enum kms_errclass);

/* GetKeyLastUsage's answer (kms_usage.c); 0, or -1 with err->cls
 * KMS_ERR_MALFORMED (then out holds nothing). */
int	kms_parse_key_last_usage(const char *body, size_t len,
	    struct kms_key_usage *out, struct kms_error *err);
void	kms_key_usage_free(struct kms_key_usage *u);	/* frees members */
/* ReplicaKeys beyond this many make an answer malformed: KMS allows one
 * replica per Region. */
#define KMS_MAX_REPLICAS	64

void	kms_key_meta_free(struct kms_key_meta *m);	/* frees members */
/* Frees m's ReplicaKeys list only (mr_replicas, mr_nreplicas): read once
 * after a poll, it need not stay in memory with the snapshot. */
void	kms_key_meta_free_replicas(struct kms_key_meta *m);
/* Deep copy; 0 or -1. */
int	kms_key_meta_copy(struct kms_key_meta *dst,
	    const struct kms_key_meta *src);

/*
 * Paging, names, backoff, the token bucket and dates (kms.c, pure), then
 * the client's clock skew and counters (kms_client.c).
 */

/* One ListAliases page: appends its aliases to *aliases and *naliases (the
 * caller frees with kms_aliases_free()), sets *next_marker (malloc'd, the
 * caller frees) when the page says Truncated, else NULL.  0, or -1 with
 * err->cls KMS_ERR_MALFORMED (then nothing is appended). */
int	kms_parse_aliases(const char *body, size_t len,
	    struct kms_alias **aliases, size_t *naliases, char **next_marker,
	    struct kms_error *err);
void	kms_aliases_free(struct kms_alias *a, size_t n);	/* a and members */
/* One ListKeys page (kms_discover.c): appends to *keys and *nkeys (free
 * with kms_listed_keys_free()); *next_marker as above. */
int	kms_parse_keys(const char *body, size_t len,
	    struct kms_listed_key **keys, size_t *nkeys, char **next_marker,
	    struct kms_error *err);
void	kms_listed_keys_free(struct kms_listed_key *k, size_t n);

/* "DescribeKey", ... (the X-Amz-Target operation name). */
const char *kms_op_name(enum kms_op);

/* Full-jitter backoff before retry number retry (1 = the first retry):
 * uniform in [0, min(cap_ms, base_ms * 2^(retry-1))]; rnd in [0, 1). */
long	kms_backoff_ms(int retry, long base_ms, long cap_ms, double rnd);

/* A token bucket: rate tokens per second up to burst; starts full. */
struct kms_bucket {
	double	rate;
	double	burst;
	double	tokens;
	double	last;		/* seconds, any monotonic origin */
};
void	kms_bucket_init(struct kms_bucket *b, double rate, double burst,
	    double now);
/* Takes a token and returns 0, or takes none and returns the seconds
 * until one is available (> 0). */
double	kms_bucket_take(struct kms_bucket *b, double now);

/* An HTTP Date (RFC 7231 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT")
 * into *out; 0 or -1. */
int	kms_parse_http_date(const char *s, time_t *out);
/* The server time in a SigV4 time error's message ("Signature expired:
 * A is now earlier than B (SERVERTIME - 5 min.)"); 0 or -1. */
int	kms_parse_skew_message(const char *msg, time_t *out);

/* Seconds added to the local clock when signing (server time - local
 * time), learnt from the server's Date header; 0 until a skew is seen. */
double	kms_client_clock_skew(const struct kms_client *c);
/* Whether an operation of kind op to t would leave now as far as its own
 * quota goes (always 1 for operations without one, see
 * kms_get_key_last_usage()): its bucket has a token and nobody waits. */
int	kms_client_quota_ready(const struct kms_client *c,
	    const struct kms_target *t, enum kms_op op);
/* Presets that skew (a value remembered from an earlier run; tests). */
void	kms_client_set_clock_skew(struct kms_client *c, double skew);
/* Operations started and not yet called back (queued, waiting for a
 * token, in flight or backing off).  kms_client_inflight() counts HTTP
 * requests on the wire only, which max_inflight bounds per endpoint. */
size_t	kms_client_pending(const struct kms_client *c);

/* JSON helpers shared by the parsers of kms.c, kms_material.c and
 * kms_keystore.c.  kms_get_str/kms_get_time: absent or null leaves *out
 * untouched (0); the wrong type is -1 with a MALFORMED error. */
struct json_t;
struct json_t	*kms_load_object(const char *body, size_t len,
		    const char *what, struct kms_error *err);
const char	*kms_json_type(const struct json_t *v);
int	kms_get_str(struct json_t *obj, const char *ctx, const char *name,
	    char **out, int required, struct kms_error *err);
int	kms_get_time(struct json_t *obj, const char *ctx, const char *name,
	    double *out, struct kms_error *err);
/* obj[name] as an array into *arr, NULL when absent or null; 0, or -1
 * when it is something else. */
int	kms_get_array(struct json_t *obj, const char *ctx, const char *name,
	    struct json_t **arr, struct kms_error *err);
/* Truncated/NextMarker of a page: *next_marker malloc'd when Truncated,
 * else NULL; 0 or -1. */
int	kms_parse_marker(struct json_t *root, const char *ctx,
	    char **next_marker, struct kms_error *err);

/* Fills e (NULL: nothing) with cls, code and the formatted message;
 * kms_malformed() as KMS_ERR_MALFORMED "MalformedResponse", not
 * retryable.  Shared by kms.c and kms_client.c. */
void	kms_seterr(struct kms_error *e, enum kms_errclass cls,
	    const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
void	kms_malformed(struct kms_error *e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* kms.c's readers, for the answers parsed in kms_<area>.c: a string
 * member (absent or null: *out untouched, 0; else a malloc'd copy). */
struct json_t;
int	kms_get_str(struct json_t *obj, const char *ctx, const char *name,
	    char **out, int required, struct kms_error *err);
/* One page of a List* answer: the body as an object (returned; the caller
 * json_decref()s it), its member as an array of objects (*arr borrowed
 * from it, NULL and *n 0 when absent or null) that keeps have + *n within
 * max, and Truncated/NextMarker (*next_marker malloc'd or NULL).  NULL
 * with a MALFORMED error (and *next_marker NULL) otherwise. */
struct json_t	*kms_page_open(const char *body, size_t len, const char *ctx,
		    const char *member, size_t have, size_t max,
		    struct json_t **arr, size_t *n, char **next_marker,
		    struct kms_error *err);
/*
 * JSON helpers shared by the kms_*.c answer parsers (ctx names the
 * answer in messages).  kms_load_object(): body as a JSON object (the
 * caller json_decref()s it), or NULL with a MALFORMED error.
 * kms_get_str()/kms_get_time(): member name as a string (strdup'd into
 * *out, the old value freed) or as epoch seconds; absent or null leaves
 * *out alone (-1 if required); a wrong type is -1 with err set.
 */
json_t	*kms_load_object(const char *body, size_t len, const char *ctx,
	    struct kms_error *err);
int	kms_get_time(json_t *obj, const char *ctx, const char *name,
	    double *out, struct kms_error *err);

#endif

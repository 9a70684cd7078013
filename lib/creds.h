/*
 * lib/creds, one module in two files: creds.c (the pure steps) and
 * creds_provider.c (the runner, creds_provider_*).
 *
 * AWS credentials: the provider chain in the SDKs' order, split into pure
 * steps (INI parsing, profile resolution, choosing the provider, building
 * the STS/IMDS/container requests, parsing their answers) and a small
 * asynchronous runner that does the network through a creds_fetcher.
 *
 * Chain (first that applies wins):
 *   1. config: aws.access_key_id + aws.secret_access_key (keyhealthd.yaml)
 *   2. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      [+ AWS_SESSION_TOKEN]; skipped when the config names a profile
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      [+ AWS_ROLE_SESSION_NAME] via STS AssumeRoleWithWebIdentity
 *   4. shared files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/config and ~/.aws/credentials), profile from the config,
 *      AWS_PROFILE, AWS_DEFAULT_PROFILE or "default": static keys,
 *      role_arn + source_profile / credential_source, web_identity_token_file,
 *      credential_process
 *   5. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (169.254.170.2) or
 *      _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
 *   6. IMDSv2 unless AWS_EC2_METADATA_DISABLED=true
 *      (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address)
 * then the config's assume_role on top (STS AssumeRole, session name
 * "keyhealthd", regional STS endpoint; AWS_ENDPOINT_URL_STS or
 * AWS_ENDPOINT_URL override it).
 *
 * No error message ever carries a secret key, session token, web identity
 * token or container authorization token.
 *
 * Daemon use: one creds_plan_resolve() per distinct aws: block (global and
 * per key) at start-up and on reload; creds_provider_new() with the fetcher
 * of lib/creds_async.h; prime each provider with creds_provider_get(...,
 * cb, arg) before the first poll; give lib/kms creds_provider_sigv4 as
 * get_creds with the provider as creds_arg (`keyhealthd check` too).  The
 * tools and unit tests that run it without a loop use a blocking fetcher
 * of their own (tests/tools/support/creds_blocking.h).
 */
#ifndef KEYHEALTHD_CREDS_H
#define KEYHEALTHD_CREDS_H

#include <stddef.h>
#include <time.h>

#include "sigv4.h"

#define CREDS_REFRESH_AHEAD	300	/* seconds before expiry (half of
					 * a shorter life) */
#define CREDS_EXPIRY_MARGIN	30	/* unusable this close to expiry
					 * (a quarter of a shorter life) */
#define CREDS_MAX_CHAIN		8	/* role hops: source_profile depth */
#define CREDS_MAX_BODY		(64 * 1024)	/* STS/IMDS/process answers */
#define CREDS_MAX_FILE		(1024 * 1024)	/* shared config files */
#define CREDS_SESSION_NAME	"keyhealthd"
#define CREDS_IMDS_ENDPOINT	"http://169.254.169.254"
#define CREDS_IMDS_ENDPOINT6	"http://[fd00:ec2::254]"
#define CREDS_CONTAINER_HOST	"http://169.254.170.2"

/* A set of credentials.  Strings malloc'd; creds_clear() wipes and frees. */
struct creds {
	char	*access_key_id;
	char	*secret_access_key;
	char	*session_token;		/* NULL for long-term keys */
	time_t	 expiration;		/* 0: does not expire */
};

/* Wipes the secrets and frees the strings; c itself is the caller's. */
void	creds_clear(struct creds *c);
/* Deep copy into dst (cleared first).  0, or -1 out of memory. */
int	creds_copy(struct creds *dst, const struct creds *src);

/* The aws: block of keyhealthd.yaml (global or per key); all may be NULL. */
struct creds_config {
	const char	*profile;
	const char	*access_key_id;
	const char	*secret_access_key;	/* discouraged: use a profile */
	const char	*session_token;
	const char	*assume_role;		/* role ARN */
	const char	*external_id;		/* for assume_role */
	const char	*region;		/* STS region (the key's) */
	const char	*sts_endpoint;		/* base URL override */
	int		 allow_http;		/* plain http to non-loopback */
};

/* ---- Time ---------------------------------------------------------- */

/* RFC 3339 / ISO 8601 ("2019-11-09T13:34:41Z", fractions, +hh:mm). */
int	creds_parse_time(const char *s, time_t *out);

/* ---- INI: the shared config and credentials files ------------------ */

struct creds_ini_kv {
	char	*key;		/* lower-cased */
	char	*value;
	int	 line;
};

struct creds_ini_section {
	char			*name;	/* as written, trimmed: "profile x" */
	struct creds_ini_kv	*kv;
	size_t			 nkv;
};

struct creds_ini {
	struct creds_ini_section	*sec;
	size_t				 nsec;
};

/*
 * Parses INI text (botocore's rules: [section], key = value, full-line
 * # and ; comments, indented lines continue a value's sub-section and are
 * ignored).  Later duplicates of a section are merged, of a key win.
 * Returns 0, or -1 with "LINE: reason" in err.  Free with creds_ini_free().
 */
int	creds_ini_parse(const char *text, size_t len, struct creds_ini *ini,
	    char *err, size_t errlen);
/* Reads and parses path; a missing file is an empty ini (returns 0). */
int	creds_ini_load(const char *path, struct creds_ini *ini, char *err,
	    size_t errlen);
void	creds_ini_free(struct creds_ini *ini);
const struct creds_ini_section *creds_ini_section(const struct creds_ini *ini,
	    const char *name);
/* The value of key in sec (NULL if absent); owned by the ini. */
const char *creds_ini_get(const struct creds_ini_section *sec,
	    const char *key);

/* ---- The plan: which provider applies, with what ------------------- */

enum creds_source {
	CREDS_SRC_STATIC,		/* keys known now */
	CREDS_SRC_WEB_IDENTITY,		/* STS AssumeRoleWithWebIdentity */
	CREDS_SRC_PROCESS,		/* credential_process */
	CREDS_SRC_CONTAINER,		/* ECS/EKS container endpoint */
	CREDS_SRC_IMDS			/* EC2 instance metadata v2 */
};

struct creds_role_step {
	char	*role_arn;
	char	*session_name;
	char	*external_id;		/* or NULL */
	char	*via;			/* "profile prod", "config" */
};

/* Everything owned by the plan; free with creds_plan_free(). */
struct creds_plan {
	enum creds_source	 source;
	char			 desc[160];	/* for messages, no secrets */
	struct creds		 static_creds;	/* STATIC */
	char			*token_file;	/* WEB_IDENTITY */
	char			*role_arn;	/* WEB_IDENTITY */
	char			*session_name;	/* WEB_IDENTITY */
	char			*command;	/* PROCESS */
	char			*url;		/* CONTAINER: full URL; IMDS: base */
	char			*auth_token;	/* CONTAINER, or NULL */
	char			*auth_token_file; /* CONTAINER, wins over token */
	struct creds_role_step	 steps[CREDS_MAX_CHAIN + 1];
	size_t			 nsteps;	/* AssumeRole on top, in order */
	char			*region;	/* for STS */
	char			*sts_endpoint;	/* base URL override or NULL */
};

void	creds_plan_free(struct creds_plan *plan);

/*
 * Decides where the credentials come from.  env is a NULL-terminated
 * "NAME=value" array (environ); HOME locates ~/.aws.  Reads the shared
 * files, nothing else.  Returns 0 with plan filled, or -1 with the reason
 * in err (no provider applies, a partial or contradictory setting, a
 * missing profile, a source_profile loop).
 */
int	creds_plan_resolve(const struct creds_config *cfg,
	    const char *const *env, struct creds_plan *plan, char *err,
	    size_t errlen);

/*
 * The profile part alone: resolves profile name against the parsed config
 * and credentials files into plan (source + role steps).  Returns 1 when
 * the profile exists and yields credentials, 0 when it exists without any
 * (or does not exist and !must_exist), -1 with err on an error.
 */
int	creds_profile_resolve(const struct creds_ini *config,
	    const struct creds_ini *credentials, const char *name,
	    int must_exist, const char *const *env, struct creds_plan *plan,
	    char *err, size_t errlen);

/* The value of name in env, or NULL. */
const char *creds_env_get(const char *const *env, const char *name);

/* ---- HTTP requests and their answers -------------------------------- */

#define CREDS_HTTP_MAX_HEADERS	8

/* A request the runner hands to the fetcher.  Owned; creds_http_req_free(). */
struct creds_http_req {
	char	*method;
	char	*url;
	char	*headers[CREDS_HTTP_MAX_HEADERS + 1];	/* "Name: value", NULL-terminated */
	size_t	 nheaders;
	char	*body;
	size_t	 bodylen;
	int	 secret_body;	/* body carries a token: never log it */
};

void	creds_http_req_free(struct creds_http_req *r);

/*
 * The STS endpoint base URL for region: override, else AWS_ENDPOINT_URL_STS,
 * else AWS_ENDPOINT_URL, else https://sts.REGION.SUFFIX; the rules and
 * the partitions are lib/endpoint's (plain http only to loopback unless
 * allow_http).  0 or -1.
 */
int	creds_sts_endpoint(const char *override, int allow_http,
	    const char *region,
	    const char *const *env, char *url, size_t urllen, char *err,
	    size_t errlen);

/* STS AssumeRole, SigV4-signed with src at now.  0 or -1 with err. */
int	creds_sts_assume_role_request(const char *endpoint, const char *region,
	    const struct creds_role_step *step, const struct creds *src,
	    time_t now, struct creds_http_req *out, char *err, size_t errlen);
/* STS AssumeRoleWithWebIdentity (unsigned; token in the body). */
int	creds_sts_web_identity_request(const char *endpoint,
	    const char *role_arn, const char *session_name, const char *token,
	    struct creds_http_req *out, char *err, size_t errlen);
/*
 * Parses an STS answer: status 200 with <Credentials> of AssumeRoleResult
 * or AssumeRoleWithWebIdentityResult, or an ErrorResponse (err gets
 * "Code: Message").  0 with out filled, or -1.
 */
int	creds_sts_parse(long status, const char *body, size_t len,
	    struct creds *out, char *err, size_t errlen);

/* IMDSv2: PUT /latest/api/token with a TTL header. */
int	creds_imds_token_request(const char *base, struct creds_http_req *out,
	    char *err, size_t errlen);
/* GET .../security-credentials/ (role == NULL) or .../ROLE, with the token. */
int	creds_imds_creds_request(const char *base, const char *token,
	    const char *role, struct creds_http_req *out, char *err,
	    size_t errlen);
/* The first role name of the listing into role.  0 or -1. */
int	creds_imds_parse_role(long status, const char *body, size_t len,
	    char *role, size_t rolelen, char *err, size_t errlen);
/* IMDS and container credentials JSON ({"AccessKeyId": ..., "Token": ...,
 * "Expiration": RFC 3339}; IMDS adds "Code": "Success"). */
int	creds_json_parse(long status, const char *body, size_t len,
	    struct creds *out, char *err, size_t errlen);
/* Container GET with its Authorization token (token may be NULL). */
int	creds_container_request(const char *url, const char *token,
	    struct creds_http_req *out, char *err, size_t errlen);
/* credential_process output: {"Version": 1, "AccessKeyId", ...}. */
int	creds_process_parse(const char *out, size_t len, struct creds *c,
	    char *err, size_t errlen);

/* ---- The runner ---------------------------------------------------- */

/*
 * What a fetch came back with: status is the HTTP status (or the exit
 * status of a credential_process), -1 for a transport failure (error says
 * why).  body is valid during the callback only.
 */
struct creds_fetch_result {
	long		 status;
	const char	*body;
	size_t		 bodylen;
	const char	*error;
};

typedef void (*creds_fetch_done)(void *cbarg,
    const struct creds_fetch_result *res);

/*
 * The network (and process) step, so that the runner can be driven by the
 * async lib/http on the loop, by a blocking client in `keyhealthd check`,
 * or by a fake in the tests.  fetch and exec start the work and call done
 * exactly once, possibly before they return; they return 0, or -1 if done
 * will not be called.  cancel (may be NULL) drops the pending work of
 * cbarg so that done is not called.
 */
struct creds_fetcher {
	int	(*fetch)(void *ctx, const struct creds_http_req *req,
		    creds_fetch_done done, void *cbarg);
	int	(*exec)(void *ctx, const char *command,
		    creds_fetch_done done, void *cbarg);
	void	(*cancel)(void *ctx, void *cbarg);
	void	*ctx;
};

struct creds_provider;

/* Called when a refresh that a caller waited for ends: c is NULL on
 * failure (err says why).  c is valid during the callback only. */
typedef void (*creds_cb)(void *arg, const struct creds *c, const char *err);

/*
 * A provider running plan (taken over: plan is emptied).  clock may be
 * NULL for time(NULL).  Returns NULL only when out of memory.  Free with
 * creds_provider_free() (cancels a refresh in flight).
 */
struct creds_provider *creds_provider_new(struct creds_plan *plan,
	    const struct creds_fetcher *fetcher, time_t (*clock)(void));
void	creds_provider_free(struct creds_provider *p);

/*
 * Current credentials.  Returns 0 with *out pointing at them (valid until
 * control returns to the loop) when they are usable, and starts a refresh
 * in the background when they are within the refresh window; returns 1
 * when a refresh is in flight and cb will be called with the outcome;
 * returns -1 with err when there are none and the last attempt failed
 * (retried with backoff; cb not called).
 */
int	creds_provider_get(struct creds_provider *p, const struct creds **out,
	    creds_cb cb, void *arg, char *err, size_t errlen);

/* lib/kms's get_creds hook: arg is the provider.  0 or -1 with err. */
int	creds_provider_sigv4(void *arg, struct sigv4_creds *out, char *err,
	    size_t errlen);

/* When the next refresh is due (0: never), the last error (or ""), and
 * a description of the source such as "profile prod, then AssumeRole". */
time_t	creds_provider_refresh_at(const struct creds_provider *p);
const char *creds_provider_last_error(const struct creds_provider *p);
const char *creds_provider_describe(const struct creds_provider *p);

/* ---- Shared by creds.c and creds_provider.c ------------------------- */

/* Reads a regular file of at most max bytes, NUL-terminated, into a
 * malloc'd buffer (*lenp its length).  NULL with *missing set when it does
 * not exist, NULL with err on any other failure. */
char	*creds_read_file(const char *path, size_t max, size_t *lenp,
	    int *missing, char *err, size_t errlen);
/* Wipes s and frees it (NULL is fine). */
void	creds_free_secret(char *s);

#endif

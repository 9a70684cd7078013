/*
 * The KMS client, the loop half of lib/kms (kms.h; requests and answers
 * are in kms.c): each HTTP attempt first waits for a slot of its endpoint
 * (max_inflight, FIFO), then for a token of its account+region bucket
 * (FIFO), is then signed with the (skew-corrected) time and sent through
 * lib/http.  Holding the slot while waiting for the token means a request
 * leaves exactly when its token is taken, so the wire rate obeys the
 * bucket.  An operation with a quota of its own far below the others'
 * (GetKeyLastUsage: 5/s) first waits in its bucket's quota queue, before
 * it takes a slot: holding a slot while waiting a second for that token
 * would starve the endpoint's other requests.
 */
#include <sys/queue.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "endpoint.h"
#include "http.h"
#include "kms.h"
#include "kms_keystore.h"
#include "kms_material.h"
#include "kms_grants.h"
#include "log.h"
#include "sigv4.h"

#define KMS_DEF_BACKOFF_BASE	200
#define KMS_DEF_BACKOFF_CAP	10000
#define KMS_DEF_BURST		20.0
#define KMS_MAX_PAGES		1000
#define KMS_KEYID_MAX		2048
#define KMS_PAGE_LIMIT		100
/* ListKeys takes up to 1000 a page: a tenth of the requests. */
#define KMS_LIST_KEYS_LIMIT	1000
/* A server Date this far from ours (beyond the skew already known) is
 * adopted even without an error: SigV4 tolerates 5 minutes. */
#define KMS_SKEW_ADOPT		120.0

/* ------------------------------------------------------------------ */
/* The asynchronous client */

/*
 * Operations with a request quota far below the others' get a second,
 * slower bucket per account+region on top of the shared one: custom key
 * store operations share a few requests per second (5 by default) in an
 * account and region, and GetKeyLastUsage has 5 of its own, where
 * DescribeKey has 2,000.  At most this many per second for each (and
 * never more than the rate limit).
 */
#define KMS_LOW_QUOTA_RATE	1.0
#define KMS_LOW_QUOTAS		2	/* see kms_low_quota_of() */

enum kms_op_state {
	KMS_ST_WAIT_LOW,	/* in its bucket's low-quota queue */
	KMS_ST_WAIT_SLOT,	/* in its endpoint's queue */
	KMS_ST_WAIT_TOKEN,	/* holds a slot, in its bucket's queue */
	KMS_ST_INFLIGHT,	/* holds a slot, HTTP request running */
	KMS_ST_BACKOFF,		/* waiting on its timer to retry */
	KMS_ST_FINISHING	/* waiting on its timer to call back */
};

struct kms_call;
TAILQ_HEAD(kms_opq, kms_call);

struct kms_ep {
	LIST_ENTRY(kms_ep)	 entry;
	char			*url;
	struct endpoint_url	 u;
	int			 inflight;	/* slots held */
	struct kms_opq		 q;
};

struct kms_bk {
	LIST_ENTRY(kms_bk)	 entry;
	struct kms_client	*c;
	char			*account;
	char			*region;
	struct kms_bucket	 b;
	/* KMS_LOW_QUOTA_RATE operations, one bucket per quota (AWS
	 * counts each separately): index kms_op_low_quota() - 1. */
	struct kms_bucket	 low[KMS_LOW_QUOTAS];
	struct sigv4_keycache	 cache;
	struct event		*timer;
	struct kms_opq		 q;
	struct kms_opq		 lowq[KMS_LOW_QUOTAS];	/* waiting for a low
							 * token */
};

struct kms_client {
	struct event_base	*base;
	struct http		*http;
	struct kms_opts		 o;
	struct event		*pump;
	LIST_HEAD(, kms_ep)	 eps;
	LIST_HEAD(, kms_bk)	 bks;
	struct kms_opq		 live;
	size_t			 nlive;
	size_t			 nwire;
	double			 skew;
	int			 skew_logged;
	int			 skew_from_error;
	int			 freeing;
	/* The last Date header read and its time: answers of one second
	 * carry the same one. */
	char			 date[40];
	time_t			 date_t;
};

struct kms_call {
	TAILQ_ENTRY(kms_call)	 entry;		/* c->live */
	TAILQ_ENTRY(kms_call)	 qentry;	/* ep->q or bk->q */
	struct kms_client	*c;
	struct kms_ep		*ep;
	struct kms_bk		*bk;
	enum kms_op		 op;
	enum kms_op_state	 st;
	char			*key_id;
	char			*marker;
	int			(*get_creds)(void *, struct sigv4_creds *,
				    char *, size_t);
	void			*creds_arg;
	kms_cb			 cb;
	void			*arg;
	struct http_req		*req;
	struct event		*ev;
	int			 page_attempts;
	int			 skew_retried;
	int			 pages;
	struct timespec		 t0;
	struct kms_result	 res;
};

static void	kms_pump_schedule(struct kms_client *);

static double
kms_mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
kms_rand01(void)
{
	return arc4random() / 4294967296.0;
}

static void
kms_result_free(struct kms_result *r)
{
	kms_key_meta_free(&r->meta);
	free(r->policy);
	r->policy = NULL;
	kms_aliases_free(r->aliases, r->naliases);
	r->aliases = NULL;
	r->naliases = 0;
	kms_listed_keys_free(r->keys, r->nkeys);
	r->keys = NULL;
	r->nkeys = 0;
	free(r->materials);
	r->materials = NULL;
	kms_keystore_unref(r->keystore);
	r->keystore = NULL;
	kms_key_usage_free(&r->usage);
	json_decref(r->grants);
	r->grants = NULL;
}

static void
kms_op_free(struct kms_call *op)
{
	if (op->ev != NULL)
		event_free(op->ev);
	kms_result_free(&op->res);
	free(op->key_id);
	free(op->marker);
	free(op);
}

/* Takes op off whatever queue or timer it waits on and gives back its
 * slot; cancels its HTTP request. */
/* Which low quota each attempt of op also waits for a token of (1 ...
 * KMS_LOW_QUOTAS), or 0. */
static int
kms_low_quota_of(enum kms_op op)
{
	switch (op) {
	case KMS_OP_DESCRIBE_CUSTOM_KEY_STORES:
		return 1;	/* the custom key store operations' quota */
	case KMS_OP_GET_KEY_LAST_USAGE:
		return 2;
	default:
		return 0;
	}
}

static int
kms_op_low_quota(const struct kms_call *op)
{
	return kms_low_quota_of(op->op);
}

static void
kms_op_detach(struct kms_call *op)
{
	struct kms_client	*c = op->c;

	switch (op->st) {
	case KMS_ST_WAIT_LOW:
		TAILQ_REMOVE(&op->bk->lowq[kms_op_low_quota(op) - 1], op,
		    qentry);
		break;
	case KMS_ST_WAIT_SLOT:
		TAILQ_REMOVE(&op->ep->q, op, qentry);
		break;
	case KMS_ST_WAIT_TOKEN:
		TAILQ_REMOVE(&op->bk->q, op, qentry);
		op->ep->inflight--;
		break;
	case KMS_ST_INFLIGHT:
		if (op->req != NULL)
			http_cancel(op->req);
		op->req = NULL;
		op->ep->inflight--;
		c->nwire--;
		break;
	case KMS_ST_BACKOFF:
	case KMS_ST_FINISHING:
		break;
	}
	evtimer_del(op->ev);
}

/* Runs the callback; nothing of the client is touched afterwards, so the
 * callback may start operations or free the client. */
static void
kms_op_finish(struct kms_call *op)
{
	struct kms_client	*c = op->c;
	struct timespec		 t1;

	TAILQ_REMOVE(&c->live, op, entry);
	c->nlive--;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	op->res.elapsed = (double)(t1.tv_sec - op->t0.tv_sec) +
	    (t1.tv_nsec - op->t0.tv_nsec) / 1e9;
	if (op->res.err.cls != KMS_OK)
		kms_result_free(&op->res);
	op->cb(&op->res, op->arg);
	kms_op_free(op);
}

/* Finishes op from its own timer on the next loop turn. */
static void
kms_op_finish_later(struct kms_call *op)
{
	struct timeval	tv = { 0, 0 };

	op->st = KMS_ST_FINISHING;
	evtimer_add(op->ev, &tv);
}


static void
kms_op_enqueue(struct kms_call *op)
{
	/* The low token first, before a slot is held for it. */
	if (kms_op_low_quota(op)) {
		op->st = KMS_ST_WAIT_LOW;
		TAILQ_INSERT_TAIL(&op->bk->lowq[kms_op_low_quota(op) - 1], op,
		    qentry);
	} else {
		op->st = KMS_ST_WAIT_SLOT;
		TAILQ_INSERT_TAIL(&op->ep->q, op, qentry);
	}
	kms_pump_schedule(op->c);
}

static void
kms_op_ev_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct kms_call	*op = arg;

	(void)fd;
	(void)kind;
	if (op->st == KMS_ST_BACKOFF)
		kms_op_enqueue(op);
	else if (op->st == KMS_ST_FINISHING)
		kms_op_finish(op);
}

static void	kms_http_cb(const struct http_response *, void *);

/*
 * The bodies of every poll, DescribeKey's and GetKeyPolicy's, written
 * directly when the key id needs no escaping: byte for byte what
 * json_dumps() makes of them below (compact, keys sorted), without
 * building and dumping an object per request.  NULL: build it.
 */
static char *
kms_op_body_plain(const struct kms_call *op)
{
	const unsigned char	*p;
	char			*s;

	if (op->key_id == NULL || (op->op != KMS_OP_DESCRIBE_KEY &&
	    op->op != KMS_OP_GET_KEY_POLICY))
		return NULL;
	for (p = (const unsigned char *)op->key_id; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			return NULL;
	if (asprintf(&s, op->op == KMS_OP_GET_KEY_POLICY ?
	    "{\"KeyId\":\"%s\",\"PolicyName\":\"default\"}" :
	    "{\"KeyId\":\"%s\"}", op->key_id) == -1)
		return NULL;
	return s;
}

static char *
kms_op_body(struct kms_call *op)
{
	json_t	*o;
	char	*s;

	if ((s = kms_op_body_plain(op)) != NULL)
		return s;
	if ((o = json_object()) == NULL)
		return NULL;
	/* DescribeCustomKeyStores names a store, not a key. */
	if (op->key_id != NULL)
		json_object_set_new(o, op->op ==
		    KMS_OP_DESCRIBE_CUSTOM_KEY_STORES ? "CustomKeyStoreId" :
		    "KeyId", json_string(op->key_id));
	switch (op->op) {
	case KMS_OP_GET_KEY_POLICY:
		json_object_set_new(o, "PolicyName", json_string("default"));
		break;
	case KMS_OP_LIST_KEY_ROTATIONS:
		/* Also the first material and imported ones not yet
		 * rotated in: every material the key holds. */
		json_object_set_new(o, "IncludeKeyMaterial",
		    json_string("ALL_KEY_MATERIAL"));
		/* FALLTHROUGH */
	case KMS_OP_LIST_ALIASES:
	case KMS_OP_LIST_GRANTS:
	case KMS_OP_DESCRIBE_CUSTOM_KEY_STORES:
		json_object_set_new(o, "Limit", json_integer(KMS_PAGE_LIMIT));
		if (op->marker != NULL)
			json_object_set_new(o, "Marker",
			    json_string(op->marker));
		break;
	case KMS_OP_LIST_KEYS:
		json_object_set_new(o, "Limit",
		    json_integer(KMS_LIST_KEYS_LIMIT));
		if (op->marker != NULL)
			json_object_set_new(o, "Marker",
			    json_string(op->marker));
		break;
	default:
		break;
	}
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Signs and sends one attempt.  On failure the op is set to finish. */
static void
kms_op_send(struct kms_call *op)
{
	struct kms_client	*c = op->c;
	struct kms_ep		*ep = op->ep;
	struct sigv4_creds	 cr;
	struct sigv4_header	 sh[3];
	struct sigv4_request	 sr;
	struct http_request	 hr;
	char			 hhost[300], htarget[64], hdate[32];
	char			 hauth[SIGV4_AUTH_MAX + 32];
	char			 auth[SIGV4_AUTH_MAX];
	char			 amzdate[SIGV4_AMZDATE_LEN];
	char			*htoken = NULL, *body = NULL;
	char			 err[256], target[48];
	const char		*hdrs[8];
	size_t			 nh = 0;
	time_t			 now;

	memset(&cr, 0, sizeof(cr));
	err[0] = '\0';
	if (op->get_creds == NULL ||
	    op->get_creds(op->creds_arg, &cr, err, sizeof(err)) == -1 ||
	    cr.access_key == NULL || cr.secret_key == NULL) {
		kms_seterr(&op->res.err, KMS_ERR_AUTH, "NoCredentials",
		    "no credentials: %s", err[0] ? err : "none available");
		goto fail;
	}
	if ((body = kms_op_body(op)) == NULL) {
		kms_seterr(&op->res.err, KMS_ERR_OTHER, "ClientError",
		    "out of memory");
		goto fail;
	}
	snprintf(target, sizeof(target), "TrentService.%s",
	    kms_op_name(op->op));
	sh[0].name = "host";
	sh[0].value = ep->u.hostport;
	sh[1].name = "content-type";
	sh[1].value = "application/x-amz-json-1.1";
	sh[2].name = "x-amz-target";
	sh[2].value = target;
	memset(&sr, 0, sizeof(sr));
	sr.method = "POST";
	sr.path = ep->u.path;
	sr.headers = sh;
	sr.nheaders = 3;
	sr.body = body;
	sr.bodylen = strlen(body);
	now = time(NULL) + (time_t)llround(c->skew);
	if (sigv4_sign(&sr, &cr, op->bk->region, "kms", now, &op->bk->cache,
	    auth, sizeof(auth), amzdate, err, sizeof(err)) == -1) {
		kms_seterr(&op->res.err, KMS_ERR_AUTH, "SigningFailed", "%s",
		    err);
		goto fail;
	}
	snprintf(hhost, sizeof(hhost), "Host: %s", ep->u.hostport);
	snprintf(htarget, sizeof(htarget), "X-Amz-Target: %s", target);
	snprintf(hdate, sizeof(hdate), "X-Amz-Date: %s", amzdate);
	snprintf(hauth, sizeof(hauth), "Authorization: %s", auth);
	hdrs[nh++] = hhost;
	hdrs[nh++] = "Content-Type: application/x-amz-json-1.1";
	hdrs[nh++] = htarget;
	hdrs[nh++] = hdate;
	hdrs[nh++] = hauth;
	if (cr.session_token != NULL && cr.session_token[0] != '\0') {
		if (asprintf(&htoken, "X-Amz-Security-Token: %s",
		    cr.session_token) == -1) {
			htoken = NULL;
			kms_seterr(&op->res.err, KMS_ERR_OTHER, "ClientError",
			    "out of memory");
			goto fail;
		}
		hdrs[nh++] = htoken;
	}
	hdrs[nh] = NULL;
	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = ep->u.url;
	hr.headers = hdrs;
	hr.body = body;
	hr.bodylen = strlen(body);
	op->page_attempts++;
	op->res.err.attempts++;
	if ((op->req = http_submit(c->http, &hr, kms_http_cb, op, err,
	    sizeof(err))) == NULL) {
		kms_seterr(&op->res.err, KMS_ERR_TRANSPORT, "ClientError",
		    "%s", err);
		goto fail;
	}
	op->st = KMS_ST_INFLIGHT;
	c->nwire++;
	if (htoken != NULL)
		explicit_bzero(htoken, strlen(htoken));
	free(htoken);
	free(body);
	return;
fail:
	if (htoken != NULL)
		explicit_bzero(htoken, strlen(htoken));
	free(htoken);
	free(body);
	op->res.err.retryable = 0;
	op->ep->inflight--;
	kms_pump_schedule(c);
	kms_op_finish_later(op);
}

/* Runs the pump again in wait seconds (the earliest of the waits asked
 * for while the timer is pending). */
static void
kms_bk_wait(struct kms_bk *bk, double wait)
{
	struct timeval	tv, left;

	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6) + 1;
	if (tv.tv_usec >= 1000000) {
		tv.tv_sec++;
		tv.tv_usec -= 1000000;
	}
	if (evtimer_pending(bk->timer, &left)) {
		struct timeval	now, due;

		evutil_gettimeofday(&now, NULL);
		evutil_timeradd(&now, &tv, &due);
		if (evutil_timercmp(&left, &due, <))
			return;
	}
	evtimer_add(bk->timer, &tv);
}

static void
kms_pump_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct kms_client	*c = arg;
	struct kms_ep		*ep;
	struct kms_bk		*bk;
	struct kms_call		*op;
	double			 wait, now;
	int			 i;

	(void)fd;
	(void)kind;
	now = kms_mono();
	LIST_FOREACH(bk, &c->bks, entry)
		for (i = 0; i < KMS_LOW_QUOTAS; i++)
			while ((op = TAILQ_FIRST(&bk->lowq[i])) != NULL) {
				if ((wait = kms_bucket_take(&bk->low[i],
				    now)) > 0) {
					kms_bk_wait(bk, wait);
					break;
				}
				TAILQ_REMOVE(&bk->lowq[i], op, qentry);
				op->st = KMS_ST_WAIT_SLOT;
				TAILQ_INSERT_TAIL(&op->ep->q, op, qentry);
			}
	LIST_FOREACH(ep, &c->eps, entry)
		while (ep->inflight < c->o.max_inflight &&
		    (op = TAILQ_FIRST(&ep->q)) != NULL) {
			TAILQ_REMOVE(&ep->q, op, qentry);
			ep->inflight++;
			op->st = KMS_ST_WAIT_TOKEN;
			TAILQ_INSERT_TAIL(&op->bk->q, op, qentry);
		}
	LIST_FOREACH(bk, &c->bks, entry) {
		while ((op = TAILQ_FIRST(&bk->q)) != NULL) {
			if ((wait = kms_bucket_take(&bk->b, now)) > 0) {
				kms_bk_wait(bk, wait);
				break;
			}
			TAILQ_REMOVE(&bk->q, op, qentry);
			kms_op_send(op);
		}
	}
}

static void
kms_pump_schedule(struct kms_client *c)
{
	struct timeval	tv = { 0, 0 };

	if (!c->freeing)
		evtimer_add(c->pump, &tv);
}

static void
kms_bk_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct kms_bk	*bk = arg;

	kms_pump_cb(fd, kind, bk->c);
}

/* Adopts srv - now as the skew: always when forced (after a time error),
 * else only when it moved by more than KMS_SKEW_ADOPT. */
static void
kms_adopt_skew(struct kms_client *c, time_t srv, const char *why, int forced)
{
	double	off = difftime(srv, time(NULL));

	/* A skew learnt from a signature error is what the signature check
	 * uses; a Date header (perhaps from a proxy) does not override it. */
	if (!forced && (c->skew_from_error ||
	    fabs(off - c->skew) < KMS_SKEW_ADOPT))
		return;
	if (forced)
		c->skew_from_error = 1;
	if (fabs(off - c->skew) < 1)
		return;
	if (!c->skew_logged) {
		log_warnx("the KMS server's clock is %+.0f s from ours (%s); "
		    "signing requests with the server's time", off, why);
		c->skew_logged = 1;
	} else
		log_debug("KMS clock skew now %+.0f s (%s)", off, why);
	c->skew = off;
}

static void
kms_note_date(struct kms_client *c, const char *date)
{
	time_t	srv;

	if (date == NULL)
		return;
	if (strcmp(date, c->date) == 0)
		srv = c->date_t;
	else {
		if (kms_parse_http_date(date, &srv) == -1)
			return;
		if (strlen(date) < sizeof(c->date)) {
			memcpy(c->date, date, strlen(date) + 1);
			c->date_t = srv;
		}
	}
	kms_adopt_skew(c, srv, "its Date header", 0);
}

static int
kms_is_skew_error(const struct kms_error *e)
{
	if (strcmp(e->code, "RequestExpired") == 0 ||
	    strcmp(e->code, "RequestTimeTooSkewed") == 0)
		return 1;
	if (strcmp(e->code, "InvalidSignatureException") != 0)
		return 0;
	return strcasestr(e->message, "Signature expired") != NULL ||
	    strcasestr(e->message, "not yet current") != NULL;
}

static void
kms_transport_error(const struct http_response *res, struct kms_error *e)
{
	const char	*code;
	int		 retry = 1;

	if (res->too_large) {
		kms_seterr(e, KMS_ERR_MALFORMED, "ResponseTooLarge", "%s",
		    res->error ? res->error : "response too large");
		e->retryable = 0;
		return;
	}
	switch (res->curl_code) {
	case CURLE_OPERATION_TIMEDOUT:
		code = "Timeout";
		break;
	case CURLE_COULDNT_CONNECT:
		code = "ConnectionFailed";
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		code = "DNSFailure";
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		code = "ConnectionReset";
		break;
	case CURLE_GOT_NOTHING:
		code = "EmptyReply";
		break;
	case CURLE_PARTIAL_FILE:
		code = "TruncatedResponse";
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		code = "Cancelled";
		retry = 0;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
		code = "TLSError";
		retry = 0;
		break;
	default:
		code = "TransportError";
		break;
	}
	kms_seterr(e, KMS_ERR_TRANSPORT, code, "%s",
	    res->error ? res->error : "transport error");
	e->status = 0;
	e->retryable = retry;
}

/* Keeps the aliases that point at op->key_id (a key id or a key ARN). */
static void
kms_filter_aliases(struct kms_call *op)
{
	struct kms_result	*r = &op->res;
	const char		*want, *p;
	size_t			 i, o = 0;

	if (op->key_id == NULL)
		return;
	want = op->key_id;
	if (strncmp(want, "arn:", 4) == 0) {
		if ((p = strstr(want, ":key/")) == NULL)
			return;
		want = p + 5;
	} else if (strncmp(want, "alias/", 6) == 0)
		return;
	for (i = 0; i < r->naliases; i++) {
		if (r->aliases[i].target_key_id != NULL &&
		    strcmp(r->aliases[i].target_key_id, want) == 0) {
			r->aliases[o++] = r->aliases[i];
			continue;
		}
		free(r->aliases[i].name);
		free(r->aliases[i].arn);
		free(r->aliases[i].target_key_id);
	}
	r->naliases = o;
}

/* A 2xx body for op; 1 when another page follows. */
static int
kms_op_parse(struct kms_call *op, const char *body, size_t len)
{
	struct kms_result	*r = &op->res;
	struct kms_error	*e = &r->err;
	char			*next = NULL;
	int			 rc, found = 0;

	switch (op->op) {
	case KMS_OP_DESCRIBE_KEY:
		rc = kms_parse_key_meta(body, len, &r->meta, e);
		if (rc == 0 && kms_key_meta_identity(op->key_id,
		    op->bk != NULL ? op->bk->region : NULL, &r->meta,
		    e) == -1) {
			kms_key_meta_free(&r->meta);
			rc = -1;
		}
		break;
	case KMS_OP_GET_KEY_POLICY:
		rc = kms_parse_policy(body, len, &r->policy, e);
		break;
	case KMS_OP_GET_KEY_ROTATION_STATUS:
		rc = kms_parse_rotation(body, len, &r->rotation, e);
		break;
	case KMS_OP_LIST_ALIASES:
		rc = kms_parse_aliases(body, len, &r->aliases, &r->naliases,
		    &next, e);
		break;
	case KMS_OP_LIST_GRANTS:
		if (r->grants == NULL && (r->grants = json_array()) == NULL) {
			kms_malformed(e, "ListGrants: out of memory");
			rc = -1;
			break;
		}
		rc = kms_parse_grants(body, len, r->grants, &next, e);
		break;
	case KMS_OP_LIST_KEYS:
		rc = kms_parse_keys(body, len, &r->keys, &r->nkeys, &next, e);
		break;
	case KMS_OP_LIST_KEY_ROTATIONS:
		rc = kms_material_parse(body, len, &r->materials, &next, e);
		break;
	case KMS_OP_DESCRIBE_CUSTOM_KEY_STORES:
		if (r->keystore == NULL &&
		    (r->keystore = kms_keystore_new(op->key_id, NULL)) ==
		    NULL) {
			kms_malformed(e, "%s: out of memory",
			    kms_op_name(op->op));
			rc = -1;
			break;
		}
		found = r->keystore->state != NULL;
		rc = kms_keystore_parse(body, len, r->keystore, &found, &next,
		    e);
		break;
	case KMS_OP_GET_KEY_LAST_USAGE:
		rc = kms_parse_key_last_usage(body, len, &r->usage, e);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == -1)
		return -1;
	op->pages++;
	if (next == NULL) {
		if (op->op == KMS_OP_LIST_ALIASES)
			kms_filter_aliases(op);
		/* KMS answers CustomKeyStoreNotFoundException for an
		 * unknown id; an answer without the store says as much. */
		if (op->op == KMS_OP_DESCRIBE_CUSTOM_KEY_STORES && !found) {
			kms_seterr(e, KMS_ERR_OTHER,
			    "CustomKeyStoreNotFoundException", "the answer "
			    "does not list custom key store %s", op->key_id);
			e->retryable = 0;
			return -1;
		}
		if (op->op == KMS_OP_LIST_KEY_ROTATIONS &&
		    r->materials == NULL &&
		    (r->materials = kms_materials_new(NULL)) == NULL) {
			kms_malformed(e, "%s: out of memory",
			    kms_op_name(op->op));
			return -1;
		}
		return 0;
	}
	if (op->marker != NULL && strcmp(op->marker, next) == 0) {
		kms_malformed(e, "%s: NextMarker repeats the previous one",
		    kms_op_name(op->op));
		free(next);
		return -1;
	}
	if (op->pages >= KMS_MAX_PAGES) {
		kms_malformed(e, "%s: more than %d pages", kms_op_name(op->op),
		    KMS_MAX_PAGES);
		free(next);
		return -1;
	}
	free(op->marker);
	op->marker = next;
	return 1;
}

static void
kms_http_cb(const struct http_response *res, void *arg)
{
	struct kms_call		*op = arg;
	struct kms_client	*c = op->c;
	struct kms_error	*e = &op->res.err;
	struct timeval		 tv;
	int			 attempts = e->attempts, rc, skew = 0;
	long			 ms;

	op->req = NULL;
	op->ep->inflight--;
	c->nwire--;
	kms_pump_schedule(c);
	memset(e, 0, sizeof(*e));
	if (!res->ok)
		kms_transport_error(res, e);
	else {
		kms_note_date(c, res->date);
		if (res->status >= 200 && res->status <= 299) {
			e->status = res->status;
			rc = kms_op_parse(op, res->body, res->bodylen);
			e->attempts = attempts;
			if (rc == 1) {
				/* The next page: a fresh attempt budget. */
				op->page_attempts = 0;
				op->skew_retried = 0;
				kms_op_enqueue(op);
				return;
			}
			if (rc == 0) {
				e->cls = KMS_OK;
				e->status = res->status;
			} else
				kms_result_free(&op->res);
			kms_op_finish(op);
			return;
		}
		kms_classify_error(res->status, res->content_type, res->body,
		    res->bodylen, e);
		if (kms_is_skew_error(e) && !op->skew_retried) {
			time_t	srv;

			if (kms_parse_skew_message(e->message, &srv) == 0)
				kms_adopt_skew(c, srv, "its signature error", 1);
			else if (res->date != NULL &&
			    kms_parse_http_date(res->date, &srv) == 0)
				kms_adopt_skew(c, srv, "its Date header", 1);
			else
				srv = 0;
			if (srv != 0) {
				op->skew_retried = 1;
				skew = 1;
			}
		}
	}
	e->attempts = attempts;
	if (skew) {
		/* Re-signed with the corrected clock, at once. */
		kms_op_enqueue(op);
		return;
	}
	if (e->retryable && op->page_attempts < c->o.max_attempts) {
		ms = kms_backoff_ms(op->page_attempts, c->o.backoff_base_ms,
		    c->o.backoff_cap_ms, kms_rand01());
		log_debug("KMS %s %s: %s (%s), retry %d in %ld ms",
		    kms_op_name(op->op), op->key_id ? op->key_id : "",
		    e->code, e->message, op->page_attempts, ms);
		op->st = KMS_ST_BACKOFF;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(op->ev, &tv);
		return;
	}
	kms_op_finish(op);
}

struct kms_client *
kms_client_new(struct event_base *base, struct http *http,
    const struct kms_opts *opts, char *err, size_t errlen)
{
	struct kms_client	*c;

	if (base == NULL || http == NULL) {
		snprintf(err, errlen, "kms: no event base or http client");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "kms: out of memory");
		return NULL;
	}
	c->base = base;
	c->http = http;
	LIST_INIT(&c->eps);
	LIST_INIT(&c->bks);
	TAILQ_INIT(&c->live);
	c->o.max_attempts = KMS_DEF_MAX_ATTEMPTS;
	c->o.backoff_base_ms = KMS_DEF_BACKOFF_BASE;
	c->o.backoff_cap_ms = KMS_DEF_BACKOFF_CAP;
	c->o.rate_per_second = KMS_DEF_RATE;
	c->o.burst = KMS_DEF_BURST;
	c->o.max_inflight = KMS_DEF_MAX_INFLIGHT;
	if (opts != NULL) {
		if (opts->max_attempts > 0)
			c->o.max_attempts = opts->max_attempts;
		if (opts->backoff_base_ms > 0)
			c->o.backoff_base_ms = opts->backoff_base_ms;
		if (opts->backoff_cap_ms > 0)
			c->o.backoff_cap_ms = opts->backoff_cap_ms;
		if (opts->rate_per_second > 0)
			c->o.rate_per_second = opts->rate_per_second;
		if (opts->burst > 0)
			c->o.burst = opts->burst;
		if (opts->max_inflight > 0)
			c->o.max_inflight = opts->max_inflight;
	}
	http_min_host_connections(http, c->o.max_inflight);
	if ((c->pump = evtimer_new(base, kms_pump_cb, c)) == NULL) {
		snprintf(err, errlen, "kms: evtimer_new failed");
		free(c);
		return NULL;
	}
	return c;
}

static struct kms_ep *
kms_ep_get(struct kms_client *c, const char *url, char *err, size_t errlen)
{
	struct kms_ep	*ep;
	char		 e[512];

	LIST_FOREACH(ep, &c->eps, entry)
		if (strcmp(ep->url, url) == 0)
			return ep;
	if ((ep = calloc(1, sizeof(*ep))) == NULL ||
	    (ep->url = strdup(url)) == NULL) {
		free(ep);
		snprintf(err, errlen, "kms: out of memory");
		return NULL;
	}
	if (endpoint_url_parse(url, ENDPOINT_NO_QUERY | ENDPOINT_NO_USERINFO,
	    &ep->u, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "kms: endpoint: %s", e);
		free(ep->url);
		free(ep);
		return NULL;
	}
	TAILQ_INIT(&ep->q);
	LIST_INSERT_HEAD(&c->eps, ep, entry);
	return ep;
}

static struct kms_bk *
kms_bk_get(struct kms_client *c, const char *account, const char *region,
    char *err, size_t errlen)
{
	struct kms_bk	*bk;
	int		 i;

	if (account == NULL)
		account = "";
	LIST_FOREACH(bk, &c->bks, entry)
		if (strcmp(bk->account, account) == 0 &&
		    strcmp(bk->region, region) == 0)
			return bk;
	if ((bk = calloc(1, sizeof(*bk))) == NULL ||
	    (bk->account = strdup(account)) == NULL ||
	    (bk->region = strdup(region)) == NULL ||
	    (bk->timer = evtimer_new(c->base, kms_bk_timer_cb, bk)) == NULL) {
		if (bk != NULL) {
			free(bk->account);
			free(bk->region);
		}
		free(bk);
		snprintf(err, errlen, "kms: out of memory");
		return NULL;
	}
	bk->c = c;
	kms_bucket_init(&bk->b, c->o.rate_per_second, c->o.burst, kms_mono());
	for (i = 0; i < KMS_LOW_QUOTAS; i++) {
		kms_bucket_init(&bk->low[i], c->o.rate_per_second <
		    KMS_LOW_QUOTA_RATE ? c->o.rate_per_second :
		    KMS_LOW_QUOTA_RATE, 1, kms_mono());
		TAILQ_INIT(&bk->lowq[i]);
	}
	TAILQ_INIT(&bk->q);
	LIST_INSERT_HEAD(&c->bks, bk, entry);
	return bk;
}

static int
kms_start(struct kms_client *c, const struct kms_target *t, enum kms_op kop,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	struct kms_call	*op;

	if (c == NULL || t == NULL || t->id == NULL || cb == NULL) {
		snprintf(err, errlen, "kms: bad arguments");
		return -1;
	}
	if (c->freeing) {
		snprintf(err, errlen, "kms: client is being freed");
		return -1;
	}
	if (!endpoint_region_ok(t->id->region)) {
		snprintf(err, errlen, "kms: bad region \"%s\"",
		    t->id->region ? t->id->region : "");
		return -1;
	}
	if (t->endpoint == NULL) {
		snprintf(err, errlen, "kms: no endpoint");
		return -1;
	}
	if (kop != KMS_OP_LIST_ALIASES && kop != KMS_OP_LIST_KEYS &&
	    (key_id == NULL ||
	    key_id[0] == '\0')) {
		snprintf(err, errlen, "kms: %s needs a key id",
		    kms_op_name(kop));
		return -1;
	}
	if (key_id != NULL && strlen(key_id) > KMS_KEYID_MAX) {
		snprintf(err, errlen, "kms: key id too long");
		return -1;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		snprintf(err, errlen, "kms: out of memory");
		return -1;
	}
	op->c = c;
	op->op = kop;
	op->res.op = kop;
	op->cb = cb;
	op->arg = arg;
	op->get_creds = t->get_creds;
	op->creds_arg = t->creds_arg;
	clock_gettime(CLOCK_MONOTONIC, &op->t0);
	if ((key_id != NULL && key_id[0] != '\0' &&
	    (op->key_id = strdup(key_id)) == NULL) ||
	    (op->ev = evtimer_new(c->base, kms_op_ev_cb, op)) == NULL) {
		snprintf(err, errlen, "kms: out of memory");
		kms_op_free(op);
		return -1;
	}
	if ((op->ep = kms_ep_get(c, t->endpoint, err, errlen)) == NULL ||
	    (op->bk = kms_bk_get(c, t->id->account, t->id->region, err, errlen)) ==
	    NULL) {
		kms_op_free(op);
		return -1;
	}
	TAILQ_INSERT_TAIL(&c->live, op, entry);
	c->nlive++;
	kms_op_enqueue(op);
	return 0;
}

int
kms_describe_key(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_DESCRIBE_KEY, key_id, cb, arg, err,
	    errlen);
}

int
kms_get_key_policy(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_GET_KEY_POLICY, key_id, cb, arg, err,
	    errlen);
}

int
kms_get_key_rotation_status(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_GET_KEY_ROTATION_STATUS, key_id, cb,
	    arg, err, errlen);
}

int
kms_list_aliases(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_LIST_ALIASES, key_id, cb, arg, err,
	    errlen);
}

int
kms_list_grants(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_LIST_GRANTS, key_id, cb, arg, err,
	    errlen);
}

int
kms_list_keys(struct kms_client *c, const struct kms_target *t, kms_cb cb,
    void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_LIST_KEYS, NULL, cb, arg, err, errlen);
}

int
kms_list_key_rotations(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_LIST_KEY_ROTATIONS, key_id, cb, arg,
	    err, errlen);
}

int
kms_describe_custom_key_store(struct kms_client *c,
    const struct kms_target *t, const char *store_id, kms_cb cb, void *arg,
    char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_DESCRIBE_CUSTOM_KEY_STORES, store_id, cb,
	    arg, err, errlen);
}

int
kms_get_key_last_usage(struct kms_client *c, const struct kms_target *t,
    const char *key_id, kms_cb cb, void *arg, char *err, size_t errlen)
{
	return kms_start(c, t, KMS_OP_GET_KEY_LAST_USAGE, key_id, cb, arg,
	    err, errlen);
}

size_t
kms_client_inflight(const struct kms_client *c)
{
	return c != NULL ? c->nwire : 0;
}

size_t
kms_client_pending(const struct kms_client *c)
{
	return c != NULL ? c->nlive : 0;
}

double
kms_client_clock_skew(const struct kms_client *c)
{
	return c != NULL ? c->skew : 0;
}

int
kms_client_quota_ready(const struct kms_client *c, const struct kms_target *t,
    enum kms_op op)
{
	const struct kms_bk	*bk;
	const char		*account;
	double			 tokens;
	int			 q = kms_low_quota_of(op) - 1;

	if (c == NULL || t == NULL || t->id == NULL ||
	    t->id->region == NULL || q < 0)
		return 1;
	account = t->id->account != NULL ? t->id->account : "";
	LIST_FOREACH(bk, &c->bks, entry)
		if (strcmp(bk->account, account) == 0 &&
		    strcmp(bk->region, t->id->region) == 0)
			break;
	if (bk == NULL)
		return 1;	/* a new bucket starts full */
	if (!TAILQ_EMPTY(&bk->lowq[q]))
		return 0;
	tokens = bk->low[q].tokens + (kms_mono() - bk->low[q].last) *
	    bk->low[q].rate;
	return tokens >= 1;
}

void
kms_client_set_clock_skew(struct kms_client *c, double skew)
{
	if (c != NULL && isfinite(skew))
		c->skew = skew;
}

void
kms_client_free(struct kms_client *c)
{
	struct kms_call	*op;
	struct kms_ep	*ep;
	struct kms_bk	*bk;

	if (c == NULL || c->freeing)
		return;
	c->freeing = 1;
	while ((op = TAILQ_FIRST(&c->live)) != NULL) {
		int	attempts = op->res.err.attempts;

		kms_op_detach(op);
		kms_result_free(&op->res);
		memset(&op->res.err, 0, sizeof(op->res.err));
		kms_seterr(&op->res.err, KMS_ERR_TRANSPORT, "Cancelled",
		    "cancelled");
		op->res.err.attempts = attempts;
		kms_op_finish(op);
	}
	while ((ep = LIST_FIRST(&c->eps)) != NULL) {
		LIST_REMOVE(ep, entry);
		free(ep->url);
		free(ep);
	}
	while ((bk = LIST_FIRST(&c->bks)) != NULL) {
		LIST_REMOVE(bk, entry);
		event_free(bk->timer);
		explicit_bzero(&bk->cache, sizeof(bk->cache));
		free(bk->account);
		free(bk->region);
		free(bk);
	}
	event_free(c->pump);
	free(c);
}

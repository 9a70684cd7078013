/*
 * webhook notifier: POSTs the payload (version 1) as JSON, signed with
 * HMAC-SHA256 when a secret file is configured, with the event id as
 * Idempotency-Key.  2xx acknowledges; 408, 429, 5xx and transport errors
 * are retried by the outbox; any other status is a permanent failure.
 */
#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alert.h"
#include "http.h"
#include "notify.h"
#include "notify_util.h"
#include "ynode.h"

#define WEBHOOK_DEFAULT_TIMEOUT	10000
#define WEBHOOK_MAX_HEADERS	32
#define WEBHOOK_MAX_BODY	(64 * 1024)	/* response kept for logs */

struct webhook_req;

struct webhook {
	char			*url;
	char			*secret;
	size_t			 secretlen;
	char			*ca_file;
	long			 timeout_ms;
	char			**headers;	/* "Name: value" */
	size_t			 nheaders;
	const struct notify_env	*env;
	struct http		*http;		/* env's or our own */
	struct http		*own_http;	/* for ca_file */
	struct webhook_req	*reqs;
};

struct webhook_req {
	struct webhook		*w;
	struct webhook_req	*next;
	struct http_req		*hr;
	notify_done_cb		 done;
	void			*arg;
};

static void
webhook_free_state(struct webhook *w)
{
	size_t	i;

	if (w == NULL)
		return;
	free(w->url);
	if (w->secret != NULL) {
		explicit_bzero(w->secret, w->secretlen);
		free(w->secret);
	}
	free(w->ca_file);
	for (i = 0; i < w->nheaders; i++)
		free(w->headers[i]);
	free(w->headers);
	free(w);
}

static int
webhook_header_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~",
		    *s) == NULL)
			return 0;
	return 1;
}

static int
webhook_conf_headers(const struct ynode *block, struct webhook *w, char *err,
    size_t errlen)
{
	static const char * const	 reserved[] = { "content-type",
	    "content-length", "idempotency-key", "x-keyhealthd-signature",
	    "host", "user-agent", NULL };
	const struct ynode		*h = ynode_get(block, "headers"), *k, *v;
	size_t				 i, j;

	if (h == NULL)
		return 0;
	if (h->type != YNODE_MAP)
		return notify_conf_error(h, err, errlen, "webhook: 'headers' "
		    "must be a mapping of header names to values");
	if (h->nitems > WEBHOOK_MAX_HEADERS)
		return notify_conf_error(h, err, errlen, "webhook: more than "
		    "%d headers", WEBHOOK_MAX_HEADERS);
	if ((w->headers = calloc(h->nitems, sizeof(*w->headers))) == NULL)
		return notify_conf_error(h, err, errlen, "out of memory");
	for (i = 0; i < h->nitems; i++) {
		k = h->keys[i];
		v = h->items[i];
		if (!webhook_header_name_ok(k->value))
			return notify_conf_error(k, err, errlen, "webhook: "
			    "bad header name '%s'", k->value);
		for (j = 0; reserved[j] != NULL; j++)
			if (strcasecmp(reserved[j], k->value) == 0)
				return notify_conf_error(k, err, errlen,
				    "webhook: header '%s' is set by keyhealthd",
				    k->value);
		if (v->type != YNODE_SCALAR || strlen(v->value) !=
		    v->valuelen || strpbrk(v->value, "\r\n") != NULL)
			return notify_conf_error(v, err, errlen, "webhook: "
			    "header '%s' needs a one-line string value",
			    k->value);
		if (asprintf(&w->headers[i], "%s: %s", k->value,
		    v->value) == -1) {
			w->headers[i] = NULL;
			return notify_conf_error(v, err, errlen,
			    "out of memory");
		}
		w->nheaders++;
	}
	return 0;
}

static int
webhook_configure(const struct ynode *block, void **state, char *err,
    size_t errlen)
{
	static const char * const	 known[] = { "url", "secret_file",
	    "timeout", "headers", "ca_file", NULL };
	struct webhook			*w;

	if (notify_conf_keys(block, known, err, errlen) == -1)
		return -1;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return notify_conf_error(block, err, errlen, "out of memory");
	if (notify_conf_string(block, "url", 1, &w->url, err, errlen) == -1)
		goto fail;
	if (notify_util_check_url(block, "url", w->url, 0, err, errlen) ==
	    -1)
		goto fail;
	if (notify_conf_secret_file(block, "secret_file", 0, &w->secret,
	    &w->secretlen, err, errlen) == -1 ||
	    notify_conf_string(block, "ca_file", 0, &w->ca_file, err,
	    errlen) == -1 ||
	    notify_conf_duration_ms(block, "timeout", WEBHOOK_DEFAULT_TIMEOUT,
	    &w->timeout_ms, err, errlen) == -1 ||
	    webhook_conf_headers(block, w, err, errlen) == -1)
		goto fail;
	if (w->ca_file != NULL && access(w->ca_file, R_OK) == -1) {
		notify_conf_error(ynode_get(block, "ca_file"), err, errlen,
		    "webhook: ca_file %s: cannot read it", w->ca_file);
		goto fail;
	}
	*state = w;
	return 0;
fail:
	webhook_free_state(w);
	return -1;
}

static int
webhook_start(void *state, const struct notify_env *env, char *err,
    size_t errlen)
{
	struct webhook		*w = state;
	struct http_opts	 o;

	w->env = env;
	if (w->ca_file != NULL) {
		memset(&o, 0, sizeof(o));
		o.ca_file = w->ca_file;
		o.timeout_ms = w->timeout_ms;
		o.max_body = WEBHOOK_MAX_BODY;
		if (w->own_http == NULL && (w->own_http = http_new(env->base,
		    &o, err, errlen)) == NULL)
			return -1;
		w->http = w->own_http;
	} else
		w->http = env->http;
	if (w->http == NULL) {
		(void)snprintf(err, errlen, "webhook: no HTTP client");
		return -1;
	}
	return 0;
}

static void
webhook_unlink(struct webhook_req *r)
{
	struct webhook_req	**pp;

	for (pp = &r->w->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

/* A short, printable excerpt of a response body for the logs. */
static void
webhook_excerpt(const char *body, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	for (i = 0; i < len && o + 1 < outlen && i < 200; i++)
		out[o++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
	out[o] = '\0';
}

static void
webhook_on_response(const struct http_response *res, void *arg)
{
	struct webhook_req	*r = arg;
	notify_done_cb		 done = r->done;
	void			*darg = r->arg;
	enum notify_result	 result;
	char			 why[512], ex[256];

	webhook_unlink(r);
	free(r);
	if (!res->ok) {
		(void)snprintf(why, sizeof(why), "%s",
		    res->error != NULL ? res->error : "transport error");
		done(darg, NOTIFY_RETRY, why);
		return;
	}
	if (res->status >= 200 && res->status < 300) {
		done(darg, NOTIFY_ACK, NULL);
		return;
	}
	if (res->status == 408 || res->status == 429 || res->status >= 500 ||
	    res->status < 200)
		result = NOTIFY_RETRY;
	else
		result = NOTIFY_PERMANENT;
	webhook_excerpt(res->body != NULL ? res->body : "", res->bodylen, ex,
	    sizeof(ex));
	(void)snprintf(why, sizeof(why), "HTTP %ld%s%s", res->status,
	    ex[0] != '\0' ? ": " : "", ex);
	done(darg, result, why);
}

static void
webhook_hex(const unsigned char *b, size_t n, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
webhook_send(void *state, const struct alert_event *ev, notify_done_cb done,
    void *arg)
{
	struct webhook		*w = state;
	struct webhook_req	*r = NULL;
	struct http_request	 req;
	const char		*hdrs[WEBHOOK_MAX_HEADERS + 8];
	char			 sig[32 + 2 * EVP_MAX_MD_SIZE], idem[64];
	char			 ua[64], err[256], *body = NULL;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	json_t			*payload;
	size_t			 n = 0, i;

	if (w->http == NULL)
		return -1;
	payload = alert_event_payload(ev, w->env->hostname, w->env->source,
	    time(NULL));
	if (payload == NULL)
		return -1;
	body = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (body == NULL)
		return -1;
	hdrs[n++] = "Content-Type: application/json";
	(void)snprintf(idem, sizeof(idem), "Idempotency-Key: %s", ev->id);
	hdrs[n++] = idem;
	(void)snprintf(ua, sizeof(ua), "User-Agent: keyhealthd/%s",
	    KEYHEALTHD_VERSION);
	hdrs[n++] = ua;
	if (w->secret != NULL) {
		if (HMAC(EVP_sha256(), w->secret, (int)w->secretlen,
		    (const unsigned char *)body, strlen(body), md,
		    &mdlen) == NULL)
			goto fail;
		memcpy(sig, "X-Keyhealthd-Signature: sha256=", 31);
		webhook_hex(md, mdlen, sig + 31);
		hdrs[n++] = sig;
	}
	for (i = 0; i < w->nheaders; i++)
		hdrs[n++] = w->headers[i];
	hdrs[n] = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->w = w;
	r->done = done;
	r->arg = arg;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = w->url;
	req.headers = hdrs;
	req.body = body;
	req.bodylen = strlen(body);
	req.timeout_ms = w->timeout_ms;
	req.max_body = WEBHOOK_MAX_BODY;
	r->next = w->reqs;
	w->reqs = r;
	/* http_submit copies what it needs; its callback may not run
	 * before it returns, but tolerate it anyway via the list. */
	r->hr = http_submit(w->http, &req, webhook_on_response, r, err,
	    sizeof(err));
	if (r->hr == NULL) {
		webhook_unlink(r);
		free(r);
		free(body);
		done(arg, NOTIFY_RETRY, err);
		return 0;
	}
	explicit_bzero(sig, sizeof(sig));
	free(body);
	return 0;
fail:
	free(r);
	free(body);
	return -1;
}

static void
webhook_stop(void *state)
{
	struct webhook		*w = state;
	struct webhook_req	*r;

	while ((r = w->reqs) != NULL) {
		w->reqs = r->next;
		if (r->hr != NULL)
			http_cancel(r->hr);
		r->done(r->arg, NOTIFY_RETRY, "stopped");
		free(r);
	}
	if (w->own_http != NULL) {
		http_free(w->own_http);
		w->own_http = NULL;
	}
	w->http = NULL;
}

static void
webhook_free(void *state)
{
	struct webhook	*w = state;

	if (w == NULL)
		return;
	webhook_stop(w);
	webhook_free_state(w);
}

const struct notify_ops notify_webhook_ops = {
	.type = "webhook",
	.configure = webhook_configure,
	.start = webhook_start,
	.send = webhook_send,
	.stop = webhook_stop,
	.free = webhook_free,
};

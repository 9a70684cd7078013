/*
 * webhook notifier: POSTs the payload (version 1) as JSON, signed with
 * HMAC-SHA256 when a secret file is configured, with the event id as
 * Idempotency-Key, through the shared poster (notify_util): any 2xx
 * acknowledges; 4xx other than 408 and 429 is a permanent failure; the
 * rest (3xx, 408, 429, 5xx, transport errors) is retried by the outbox.
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

#define WEBHOOK_TYPE		"webhook"

#define WEBHOOK_MAX_HEADERS	32

struct webhook {
	char			*url;
	char			*secret;
	size_t			 secretlen;
	char			*ca_file;
	long long		 timeout_ms;
	char			**headers;	/* "Name: value" */
	char			**header_names;	/* their values are secret */
	char			**header_values; /* into headers[] */
	size_t			 nheaders;
	const struct notify_env	*env;
	struct http		*own_http;	/* for ca_file */
	struct notify_util_poster poster;
};

static void
webhook_free_state(struct webhook *w)
{
	size_t	i;

	if (w == NULL)
		return;
	free(w->url);
	notify_util_secret_free(w->secret);
	free(w->ca_file);
	for (i = 0; i < w->nheaders; i++) {
		explicit_bzero(w->headers[i], strlen(w->headers[i]));
		free(w->headers[i]);
		free(w->header_names[i]);
	}
	free(w->headers);
	free(w->header_names);
	free(w->header_values);
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
webhook_conf_headers(const struct ynode *block, struct webhook *w,
    struct notify_conf *nc)
{
	static const char * const	 reserved[] = { "content-type",
	    "content-length", "idempotency-key", "x-keyhealthd-signature",
	    "host", "user-agent", NULL };
	const struct ynode		*h = ynode_get(block, "headers"), *k, *v;
	size_t				 i, j;
	int				 rc = 0;

	if (h == NULL)
		return 0;
	if (h->type != YNODE_MAP)
		return notify_util_error(nc, h, "webhook: 'headers' must be a "
		    "mapping of header names to values");
	if (h->nitems > WEBHOOK_MAX_HEADERS)
		return notify_util_error(nc, h, "webhook: more than %d headers",
		    WEBHOOK_MAX_HEADERS);
	if ((w->headers = calloc(h->nitems + 1, sizeof(*w->headers))) ==
	    NULL || (w->header_names = calloc(h->nitems + 1,
	    sizeof(*w->header_names))) == NULL || (w->header_values =
	    calloc(h->nitems + 1, sizeof(*w->header_values))) == NULL)
		return notify_util_error(nc, h, "out of memory");
	for (i = 0; i < h->nitems; i++) {
		k = h->keys[i];
		v = h->items[i];
		if (!webhook_header_name_ok(k->value)) {
			rc = notify_util_error(nc, k, "webhook: bad header "
			    "name '%.64s'", k->value);
			continue;
		}
		for (j = 0; reserved[j] != NULL; j++)
			if (strcasecmp(reserved[j], k->value) == 0)
				break;
		if (reserved[j] != NULL) {
			rc = notify_util_error(nc, k, "webhook: header '%s' is "
			    "set by keyhealthd", k->value);
			continue;
		}
		/* The value is never shown: it may be a credential. */
		if (v->type != YNODE_SCALAR || strlen(v->value) !=
		    v->valuelen || strpbrk(v->value, "\r\n") != NULL) {
			rc = notify_util_error(nc, v, "webhook: header '%s' "
			    "needs a one-line string value", k->value);
			continue;
		}
		if (rc == -1)
			continue;
		if (asprintf(&w->headers[w->nheaders], "%s: %s", k->value,
		    v->value) == -1) {
			w->headers[w->nheaders] = NULL;
			return notify_util_error(nc, v, "out of memory");
		}
		/* "Name: value": the value starts after the ": ". */
		w->header_values[w->nheaders] = w->headers[w->nheaders] +
		    strlen(k->value) + 2;
		if ((w->header_names[w->nheaders] = strdup(k->value)) ==
		    NULL) {
			w->nheaders++;
			return notify_util_error(nc, v, "out of memory");
		}
		w->nheaders++;
	}
	return rc;
}

static int
webhook_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	static const char * const	 known[] = { "url", "secret_file",
	    "timeout", "headers", "ca_file", NULL };
	struct webhook			*w;
	const char			*url, *ca;
	int				 rc = 0;

	if (notify_util_check_keys(block, WEBHOOK_TYPE, known, nc) == -1)
		rc = -1;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return notify_util_error(nc, block, "out of memory");
	notify_util_poster_init(&w->poster, NULL, NULL, NULL, 0);
	if (notify_util_string(block, WEBHOOK_TYPE, "url", 1, &url, nc) == -1 ||
	    notify_util_check_url(block, "url", url, 0, nc) == -1)
		rc = -1;
	else if ((w->url = strdup(url)) == NULL)
		rc = notify_util_error(nc, block, "out of memory");
	if (notify_util_read_secret(block, "secret_file", 0, &w->secret,
	    &w->secretlen, nc) == -1)
		rc = -1;
	if (notify_util_string(block, WEBHOOK_TYPE, "ca_file", 0, &ca,
	    nc) == -1)
		rc = -1;
	else if (ca != NULL && access(ca, R_OK) == -1)
		rc = notify_util_error(nc, ynode_get(block, "ca_file"),
		    "webhook: ca_file %s: cannot read it", ca);
	else if (ca != NULL && (w->ca_file = strdup(ca)) == NULL)
		rc = notify_util_error(nc, block, "out of memory");
	if (notify_util_http_timeout(block, WEBHOOK_TYPE, &w->timeout_ms,
	    nc) == -1)
		rc = -1;
	if (webhook_conf_headers(block, w, nc) == -1)
		rc = -1;
	if (rc == -1) {
		webhook_free_state(w);
		return -1;
	}
	*state = w;
	return 0;
}

static int
webhook_start(void *state, const struct notify_env *env, char *err,
    size_t errlen)
{
	struct webhook		*w = state;
	struct http_opts	 o;
	struct http		*http = env->http;

	w->env = env;
	if (w->ca_file != NULL) {
		memset(&o, 0, sizeof(o));
		o.ca_file = w->ca_file;
		o.timeout_ms = (long)w->timeout_ms;
		o.max_body = NOTIFY_UTIL_MAX_BODY;
		if (w->own_http == NULL && (w->own_http = http_new(env->base,
		    &o, err, errlen)) == NULL)
			return -1;
		http = w->own_http;
	}
	if (http == NULL) {
		(void)snprintf(err, errlen, "webhook: no HTTP client");
		return -1;
	}
	/* The HMAC secret is masked in every outcome message. */
	notify_util_poster_init(&w->poster, http, w->url, w->secret,
	    (long)w->timeout_ms);
	w->poster.secret_headers = (const char * const *)w->header_names;
	w->poster.secret_values = (const char * const *)w->header_values;
	return 0;
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
	const char		*hdrs[WEBHOOK_MAX_HEADERS + 8];
	char			 sig[32 + 2 * EVP_MAX_MD_SIZE], idem[64];
	char			 ua[64], *body = NULL;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	json_t			*payload;
	size_t			 n = 0, i;
	int			 rc = -1;

	if (w->poster.http == NULL)
		return -1;
	payload = alert_event_payload(ev, w->env->hostname, w->env->source,
	    time(NULL));
	if (payload == NULL)
		return -1;
	body = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (body == NULL)
		return -1;
	(void)snprintf(idem, sizeof(idem), "Idempotency-Key: %s", ev->id);
	hdrs[n++] = idem;
	(void)snprintf(ua, sizeof(ua), "User-Agent: keyhealthd/%s",
	    KEYHEALTHD_VERSION);
	hdrs[n++] = ua;
	if (w->secret != NULL) {
		if (HMAC(EVP_sha256(), w->secret, (int)w->secretlen,
		    (const unsigned char *)body, strlen(body), md,
		    &mdlen) == NULL)
			goto out;
		memcpy(sig, "X-Keyhealthd-Signature: sha256=", 31);
		webhook_hex(md, mdlen, sig + 31);
		hdrs[n++] = sig;
	}
	for (i = 0; i < w->nheaders; i++)
		hdrs[n++] = w->headers[i];
	hdrs[n] = NULL;
	rc = notify_util_post(&w->poster, body, hdrs, done, arg);
out:
	explicit_bzero(sig, sizeof(sig));
	free(body);
	return rc;
}

static void
webhook_stop(void *state)
{
	struct webhook	*w = state;

	notify_util_poster_cancel(&w->poster);
	if (w->own_http != NULL) {
		http_free(w->own_http);
		w->own_http = NULL;
	}
	w->poster.http = NULL;
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
	.type = WEBHOOK_TYPE,
	.configure = webhook_configure,
	.start = webhook_start,
	.send = webhook_send,
	.stop = webhook_stop,
	.free = webhook_free,
};

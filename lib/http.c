/*
 * Asynchronous HTTP: libcurl's multi interface on the libevent loop, glued
 * as curl's docs/examples/hiperfifo.c and multi-event.c do.  curl tells us
 * through CURLMOPT_SOCKETFUNCTION which sockets to watch (one event per
 * socket, kept in curl's per-socket pointer) and through
 * CURLMOPT_TIMERFUNCTION when to wake it (one timer); both paths call
 * curl_multi_socket_action() and then drain curl_multi_info_read().
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "endpoint.h"
#include "http.h"
#include "log.h"

#define HTTP_DEF_MAX_BODY	(1024 * 1024)
#define HTTP_DEF_HOST_CONNS	8
#define HTTP_HDRVAL_MAX		128

enum http_req_state {
	HTTP_REQ_RUNNING,	/* owned by the multi handle */
	HTTP_REQ_DONE		/* removed from multi, callback pending */
};

/*
 * HTTP_DELIVER_PER_TURN (http.h): a callback is a KMS answer parsed and
 * checked and a next request signed, a few tenths of a millisecond; with
 * kms.max_inflight transfers ending together (the bench: 64, up to 1024)
 * one turn ran them all, 10-20 ms at 64, while every timer, /metrics and
 * alert delivery waited.  The rest run in the next turns, in order.
 */

struct http_req {
	TAILQ_ENTRY(http_req)	 entry;
	struct http		*h;
	CURL			*easy;
	struct curl_slist	*hdrs;
	char			*reqbody;
	http_cb			 cb;
	void			*arg;
	enum http_req_state	 state;
	int			 cancelled;

	char			*buf;
	size_t			 len;
	size_t			 cap;
	size_t			 max_body;
	int			 too_large;
	char			 date[HTTP_HDRVAL_MAX];
	char			 ctype[HTTP_HDRVAL_MAX];
	CURLcode		 result;
	char			 errbuf[CURL_ERROR_SIZE];
	char			*secret_path;	/* of a secret_url, or NULL */
	char			**secret_hdrs;	/* names, NULL-terminated */
	int			 discard_excess;
};

TAILQ_HEAD(http_reqs, http_req);

/* One per socket curl asks us to watch. */
struct http_sock {
	LIST_ENTRY(http_sock)	 entry;
	struct http		*h;
	curl_socket_t		 fd;
	struct event		*ev;
};

#define HTTP_IDLE_EASY	64

struct http {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	size_t			 max_body;
	long			 host_conns;
	char			*ca_file;
	char			*ca_path;
	struct http_reqs	 running;
	struct http_reqs	 done;		/* finished, in order, their
						 * callbacks not yet run */
	struct event		*deliver;	/* runs some of done */
	LIST_HEAD(, http_sock)	 socks;
	size_t			 ninflight;
	int			 dispatching;
	int			 free_pending;
	/* Easy handles of finished requests, reset, for the next ones:
	 * creating and destroying one per request cost 7% of a poll. */
	CURL			*idle[HTTP_IDLE_EASY];
	size_t			 nidle;
	/* The last URL submitted and its parse: every KMS request of an
	 * endpoint has the same, and parsing it cost 10% of a request. */
	char			*last_url;
	struct endpoint_url	*last_u;
};

static void	http_check_multi_info(struct http *);
static void	http_deliver_cb(evutil_socket_t, short, void *);
static void	http_easy_put(struct http *, CURL *);
static void	http_free_final(struct http *);

/* Header names whose values must never reach a log. */
static const char *const http_secret_headers[] = {
	"authorization",
	"proxy-authorization",
	"x-amz-security-token",
	"x-aws-ec2-metadata-token",
	"cookie",
	"set-cookie",
	"x-keyhealthd-signature",
	NULL
};

static int
http_header_is_secret(const struct http_req *r, const char *name,
    size_t namelen)
{
	const char *const	*p;
	size_t			 i;

	for (p = http_secret_headers; *p != NULL; p++)
		if (strlen(*p) == namelen && strncasecmp(*p, name, namelen) == 0)
			return 1;
	for (i = 0; r->secret_hdrs != NULL && r->secret_hdrs[i] != NULL; i++)
		if (strlen(r->secret_hdrs[i]) == namelen &&
		    strncasecmp(r->secret_hdrs[i], name, namelen) == 0)
			return 1;
	/* Be generous: any header that names a token, secret or key. */
	for (i = 0; i + 5 <= namelen; i++)
		if (strncasecmp(name + i, "token", 5) == 0 ||
		    (i + 6 <= namelen && strncasecmp(name + i, "secret", 6) == 0))
			return 1;
	return 0;
}

/*
 * libcurl's verbose output, one header line at a time, with the values of
 * credential-bearing headers replaced.  Bodies are never logged: STS and
 * IMDS responses carry secrets.
 */
/*
 * Logs one line of curl's verbose output with every occurrence of the
 * request's secret path (e.g. "/services/T../B../TOKEN" in the request
 * line "POST /services/... HTTP/1.1") replaced.
 */
static void
http_debug_line(const char *dir, const char *line, size_t n,
    const char *secret)
{
	char		 buf[1100];
	const char	*p, *hit;
	size_t		 sl, off = 0, chunk;

	if (secret == NULL || (sl = strlen(secret)) == 0 ||
	    memmem(line, n, secret, sl) == NULL) {
		log_debug("curl %s %.*s", dir, (int)n, line);
		return;
	}
	p = line;
	while (p < line + n) {
		hit = memmem(p, (size_t)(line + n - p), secret, sl);
		chunk = (hit != NULL ? (size_t)(hit - p) :
		    (size_t)(line + n - p));
		if (chunk > sizeof(buf) - 1 - off)
			chunk = sizeof(buf) - 1 - off;
		memcpy(buf + off, p, chunk);
		off += chunk;
		if (hit == NULL)
			break;
		chunk = strlen("/<redacted>");
		if (chunk > sizeof(buf) - 1 - off)
			break;
		memcpy(buf + off, "/<redacted>", chunk);
		off += chunk;
		p = hit + sl;
	}
	buf[off] = '\0';
	log_debug("curl %s %s", dir, buf);
}

static int
http_debug_cb(CURL *easy, curl_infotype type, char *data, size_t size,
    void *userp)
{
	struct http_req	*r = userp;
	const char	*dir, *p, *end, *nl, *colon;
	size_t		 linelen;
	int		 n;

	(void)easy;
	switch (type) {
	case CURLINFO_TEXT:
		dir = "*";
		break;
	case CURLINFO_HEADER_IN:
		dir = "<";
		break;
	case CURLINFO_HEADER_OUT:
		dir = ">";
		break;
	default:
		return 0;
	}
	p = data;
	end = data + size;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		linelen = (nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
		if (linelen > 0 && p[linelen - 1] == '\r')
			linelen--;
		n = linelen > 1024 ? 1024 : (int)linelen;
		if (n > 0) {
			colon = (type != CURLINFO_TEXT) ?
			    memchr(p, ':', (size_t)n) : NULL;
			if (colon != NULL &&
			    http_header_is_secret(r, p, (size_t)(colon - p)))
				log_debug("curl %s %.*s: <redacted>", dir,
				    (int)(colon - p), p);
			else
				http_debug_line(dir, p, (size_t)n,
				    r->secret_path);
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req	*r = userp;
	size_t		 n = size * nmemb, want;
	char		*nb;

	if (n > r->max_body - r->len) {
		/* Returning short makes curl abort with CURLE_WRITE_ERROR:
		 * reading stops here.  For a caller that only needs the
		 * status, keep what fits and call it a cut body. */
		r->too_large = 1;
		if (r->discard_excess)
			n = r->max_body - r->len;
		else
			return 0;
		if (n == 0)
			return 0;
	}
	if (r->len + n + 1 > r->cap) {
		want = r->cap ? r->cap : 4096;
		while (want < r->len + n + 1)
			want *= 2;
		if (want > r->max_body + 1)
			want = r->max_body + 1;
		if ((nb = realloc(r->buf, want)) == NULL)
			return 0;
		r->buf = nb;
		r->cap = want;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return r->too_large ? 0 : n;
}

static void
http_copy_hdrval(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	if (vlen >= dstlen)
		vlen = dstlen - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

static size_t
http_header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req	*r = userp;
	size_t		 n = size * nmemb;

	/* A new status line (after a 1xx): forget the previous headers. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->date[0] = '\0';
		r->ctype[0] = '\0';
	} else if (n > 5 && strncasecmp(data, "Date:", 5) == 0)
		http_copy_hdrval(r->date, sizeof(r->date), data + 5, n - 5);
	else if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
		http_copy_hdrval(r->ctype, sizeof(r->ctype), data + 13,
		    n - 13);
	return n;
}

static void
http_req_free(struct http_req *r)
{
	size_t	i;

	if (r == NULL)
		return;
	if (r->easy != NULL)
		http_easy_put(r->h, r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->reqbody);
	free(r->buf);
	if (r->secret_path != NULL) {
		explicit_bzero(r->secret_path, strlen(r->secret_path));
		free(r->secret_path);
	}
	for (i = 0; r->secret_hdrs != NULL && r->secret_hdrs[i] != NULL; i++)
		free(r->secret_hdrs[i]);
	free(r->secret_hdrs);
	free(r);
}

/* Removes r from the multi handle and the running list. */
static void
http_req_detach(struct http_req *r)
{
	struct http	*h = r->h;

	if (r->state != HTTP_REQ_RUNNING)
		return;
	curl_multi_remove_handle(h->multi, r->easy);
	TAILQ_REMOVE(&h->running, r, entry);
	r->state = HTTP_REQ_DONE;
	h->ninflight--;
}

static void
http_req_deliver(struct http_req *r)
{
	struct http_response	 res;
	long			 status = 0;
	double			 total = 0;

	memset(&res, 0, sizeof(res));
	curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &total);
	res.elapsed = total;
	res.body = r->buf != NULL ? r->buf : "";
	res.bodylen = r->len;
	res.date = r->date[0] != '\0' ? r->date : NULL;
	res.content_type = r->ctype[0] != '\0' ? r->ctype : NULL;
	res.curl_code = (int)r->result;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->too_large && r->discard_excess && status >= 100 &&
	    (r->result == CURLE_OK || r->result == CURLE_WRITE_ERROR)) {
		/* The status line and headers came whole: that is the
		 * answer; the body was cut on purpose. */
		res.ok = 1;
		res.status = status;
		res.truncated = 1;
	} else if (r->too_large || r->result == CURLE_FILESIZE_EXCEEDED) {
		res.too_large = 1;
		snprintf(r->errbuf, sizeof(r->errbuf),
		    "response larger than %zu bytes", r->max_body);
		res.error = r->errbuf;
		res.status = status;
	} else if (r->result != CURLE_OK) {
		if (r->errbuf[0] == '\0')
			snprintf(r->errbuf, sizeof(r->errbuf), "%s",
			    curl_easy_strerror(r->result));
		res.error = r->errbuf;
	} else {
		res.ok = 1;
		res.status = status;
	}
	r->cb(&res, r->arg);
}

static void
http_deliver_cancelled(struct http_req *r)
{
	struct http_response	 res;

	memset(&res, 0, sizeof(res));
	res.body = "";
	res.curl_code = CURLE_ABORTED_BY_CALLBACK;
	res.error = "cancelled";
	r->cb(&res, r->arg);
}

/*
 * Runs the callbacks of up to max finished transfers, oldest first; once
 * http_free() was called, those of all of them, as cancelled.  A callback
 * may submit, cancel or free, and none of that may happen while we walk
 * curl's message queue: transfers are collected first, run later.
 */
static void
http_deliver(struct http *h, size_t max)
{
	struct http_req	*r;
	size_t		 n = 0;

	h->dispatching++;
	while ((r = TAILQ_FIRST(&h->done)) != NULL &&
	    (n < max || h->free_pending)) {
		TAILQ_REMOVE(&h->done, r, entry);
		if (!r->cancelled) {
			n++;
			if (h->free_pending)
				http_deliver_cancelled(r);
			else
				http_req_deliver(r);
		}
		http_req_free(r);
	}
	h->dispatching--;
	if (h->free_pending) {
		if (h->dispatching == 0)
			http_free_final(h);
	} else if (!TAILQ_EMPTY(&h->done)) {
		struct timeval	tv = { 0, 0 };

		/* Timers due now run first, then the next ones. */
		evtimer_add(h->deliver, &tv);
	}
}

static void
http_deliver_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	http_deliver(arg, HTTP_DELIVER_PER_TURN);
}

/* Moves every finished transfer to the done list; their callbacks run
 * from the deliver timer, HTTP_DELIVER_PER_TURN per loop turn. */
static void
http_check_multi_info(struct http *h)
{
	struct http_req		*r;
	CURLMsg			*msg;
	char			*priv;
	int			 left, added = 0;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((r = (struct http_req *)priv) == NULL)
			continue;
		r->result = msg->data.result;
		http_req_detach(r);
		TAILQ_INSERT_TAIL(&h->done, r, entry);
		added = 1;
	}
	if (added && !evtimer_pending(h->deliver, NULL)) {
		struct timeval	tv = { 0, 0 };

		evtimer_add(h->deliver, &tv);
	}
}

static void
http_event_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http_sock	*s = arg;
	struct http		*h = s->h;
	int			 action = 0, running = 0;

	if (kind & EV_READ)
		action |= CURL_CSELECT_IN;
	if (kind & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* s may be freed by the socket callback inside this call. */
	curl_multi_socket_action(h->multi, fd, action, &running);
	http_check_multi_info(h);
}

static void
http_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct http	*h = arg;
	int		 running = 0;

	(void)fd;
	(void)kind;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_multi_info(h);
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed or disarmed as curl says. */
static int
http_multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http	*h = userp;
	struct timeval	 tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

static void
http_sock_free(struct http_sock *s)
{
	LIST_REMOVE(s, entry);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: one event per socket, kept via multi_assign. */
static int
http_multi_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *sockp)
{
	struct http		*h = userp;
	struct http_sock	*s = sockp;
	short			 kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			curl_multi_assign(h->multi, fd, NULL);
			http_sock_free(s);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->h = h;
		s->fd = fd;
		LIST_INSERT_HEAD(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	} else if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if ((s->ev = event_new(h->base, fd, kind, http_event_cb, s)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		return -1;
	return 0;
}

/*
 * At most host_conns connections per host, and an idle cache that keeps
 * them: curl's default cache holds four per transfer in progress, so
 * whenever fewer transfers ran than connections were open (between two
 * bursts of polls) it closed the surplus, and the next burst connected
 * again: a new TCP connection every seven KMS requests at 1,000 keys.
 * Twice host_conns keeps the busiest host's connections and as many
 * again for the others (other regions, STS, notifiers).
 */
static void
http_set_conns(struct http *h)
{
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    h->host_conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 2 * h->host_conns);
}

struct http *
http_new(struct event_base *base, const struct http_opts *opts, char *err,
    size_t errlen)
{
	struct http	*h;

	if (base == NULL) {
		snprintf(err, errlen, "http: no event base");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "http: curl_global_init failed");
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "http: out of memory");
		curl_global_cleanup();
		return NULL;
	}
	h->base = base;
	TAILQ_INIT(&h->running);
	TAILQ_INIT(&h->done);
	LIST_INIT(&h->socks);
	h->connect_timeout_ms = HTTP_DEF_CONNECT_MS;
	h->timeout_ms = HTTP_DEF_TIMEOUT_MS;
	h->max_body = HTTP_DEF_MAX_BODY;
	if (opts != NULL) {
		if (opts->connect_timeout_ms > 0)
			h->connect_timeout_ms = opts->connect_timeout_ms;
		if (opts->timeout_ms > 0)
			h->timeout_ms = opts->timeout_ms;
		if (opts->max_body > 0)
			h->max_body = opts->max_body;
		if ((opts->ca_file != NULL &&
		    (h->ca_file = strdup(opts->ca_file)) == NULL) ||
		    (opts->ca_path != NULL &&
		    (h->ca_path = strdup(opts->ca_path)) == NULL)) {
			snprintf(err, errlen, "http: out of memory");
			goto fail;
		}
	}
	if ((h->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "http: curl_multi_init failed");
		goto fail;
	}
	if ((h->timer = evtimer_new(base, http_timer_cb, h)) == NULL ||
	    (h->deliver = evtimer_new(base, http_deliver_cb, h)) == NULL) {
		snprintf(err, errlen, "http: evtimer_new failed");
		goto fail;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_multi_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_multi_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	h->host_conns = (opts != NULL && opts->max_host_connections > 0) ?
	    opts->max_host_connections : (long)HTTP_DEF_HOST_CONNS;
	http_set_conns(h);
	return h;
fail:
	if (h->timer != NULL)
		event_free(h->timer);
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h->ca_file);
	free(h->ca_path);
	free(h);
	curl_global_cleanup();
	return NULL;
}

static int
http_str_has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/*
 * A finished request's handle goes back to the pool, reset to the
 * defaults (no URL, header, body or callback of the last request stays;
 * libcurl keeps only its DNS and TLS session caches), or is destroyed.
 */
static void
http_easy_put(struct http *h, CURL *easy)
{
	if (h != NULL && !h->free_pending && h->nidle < HTTP_IDLE_EASY) {
		curl_easy_reset(easy);
		h->idle[h->nidle++] = easy;
		return;
	}
	curl_easy_cleanup(easy);
}

/* Drops the cached URL (it may carry a token: wiped). */
static void
http_url_forget(struct http *h)
{
	if (h->last_url != NULL) {
		explicit_bzero(h->last_url, strlen(h->last_url));
		free(h->last_url);
		h->last_url = NULL;
	}
}

/*
 * url parsed as `validate` parses it (a credential: never echoed), from
 * the one-entry cache when it is the last URL again.  NULL with the
 * reason in err.
 */
static const struct endpoint_url *
http_url(struct http *h, const char *url, char *err, size_t errlen)
{
	char	*copy;

	if (h->last_url != NULL && strcmp(h->last_url, url) == 0)
		return h->last_u;
	if (h->last_u == NULL &&
	    (h->last_u = malloc(sizeof(*h->last_u))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	http_url_forget(h);
	if (endpoint_url_parse(url, ENDPOINT_SECRET, h->last_u, err,
	    errlen) == -1)
		return NULL;
	/* Without a copy the next call parses again: still right. */
	if ((copy = strdup(url)) != NULL)
		h->last_url = copy;
	return h->last_u;
}

struct http_req *
http_submit(struct http *h, const struct http_request *req, http_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct http_req		*r;
	struct curl_slist	*nl;
	const char * const	*hp;
	const struct endpoint_url *u;
	char			 e[512];
	CURLMcode		 mc;
	size_t			 n;
	int			 post = 0;

	if (h == NULL || req == NULL || cb == NULL || req->url == NULL ||
	    req->method == NULL) {
		snprintf(err, errlen, "http: bad request");
		return NULL;
	}
	if (h->free_pending) {
		snprintf(err, errlen, "http: client is being freed");
		return NULL;
	}
	/* The parse `validate` applied; curl gets the URL as it comes out,
	 * so that what is redacted below is what curl sends and logs.  The
	 * URL is never echoed: any of them may carry a token. */
	if ((u = http_url(h, req->url, e, sizeof(e))) == NULL) {
		snprintf(err, errlen, "http: bad URL: %s", e);
		return NULL;
	}
	if (http_str_has_crlf(req->method) || req->method[0] == '\0') {
		snprintf(err, errlen, "http: bad method");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "http: out of memory");
		return NULL;
	}
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->max_body = req->max_body > 0 ? req->max_body : h->max_body;
	r->discard_excess = req->discard_excess;
	for (n = 0; req->secret_headers != NULL &&
	    req->secret_headers[n] != NULL; n++)
		;
	if (n > 0) {
		if ((r->secret_hdrs = calloc(n + 1,
		    sizeof(*r->secret_hdrs))) == NULL)
			goto nomem;
		for (n = 0; req->secret_headers[n] != NULL; n++)
			if ((r->secret_hdrs[n] =
			    strdup(req->secret_headers[n])) == NULL)
				goto nomem;
	}
	if (h->nidle > 0)
		r->easy = h->idle[--h->nidle];
	else if ((r->easy = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "http: curl_easy_init failed");
		goto fail;
	}
	for (hp = req->headers; hp != NULL && *hp != NULL; hp++) {
		if (http_str_has_crlf(*hp) || strchr(*hp, ':') == NULL) {
			snprintf(err, errlen, "http: malformed header");
			goto fail;
		}
		if ((nl = curl_slist_append(r->hdrs, *hp)) == NULL)
			goto nomem;
		r->hdrs = nl;
	}
	/* No "Expect: 100-continue" round trip for our small bodies. */
	if ((nl = curl_slist_append(r->hdrs, "Expect:")) == NULL)
		goto nomem;
	r->hdrs = nl;

	curl_easy_setopt(r->easy, CURLOPT_URL, u->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, h->ca_file);
	if (h->ca_path != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CAPATH, h->ca_path);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    h->connect_timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
	    req->timeout_ms > 0 ? req->timeout_ms : h->timeout_ms);
	/* A declared length over the cap fails early, unless the caller
	 * takes a cut body (then the write callback cuts it). */
	if (!r->discard_excess)
		curl_easy_setopt(r->easy, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)r->max_body);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT,
	    "keyhealthd/" KEYHEALTHD_VERSION);
	if (req->secret_url && (strcmp(u->path, "/") != 0 ||
	    u->query[0] != '\0')) {
		/* Everything after the host as sent, "/services/T../B../TOKEN"
		 * with dot segments resolved and no fragment, and any query. */
		if (asprintf(&r->secret_path, "%s%s%s", u->path,
		    u->query[0] != '\0' ? "?" : "", u->query) == -1) {
			r->secret_path = NULL;
			goto nomem;
		}
	}
	if (log_getverbose() >= 2) {
		curl_easy_setopt(r->easy, CURLOPT_DEBUGFUNCTION, http_debug_cb);
		curl_easy_setopt(r->easy, CURLOPT_DEBUGDATA, r);
		curl_easy_setopt(r->easy, CURLOPT_VERBOSE, 1L);
	}

	if (strcmp(req->method, "GET") == 0 && req->bodylen == 0)
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	else if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
	else {
		post = 1;
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST,
			    req->method);
	}
	if (post) {
		/* Our own copy: the caller's buffer may go away now. */
		if ((r->reqbody = malloc(req->bodylen + 1)) == NULL)
			goto nomem;
		if (req->bodylen > 0)
			memcpy(r->reqbody, req->body, req->bodylen);
		r->reqbody[req->bodylen] = '\0';
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->bodylen);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->reqbody);
	}

	r->state = HTTP_REQ_RUNNING;
	TAILQ_INSERT_TAIL(&h->running, r, entry);
	h->ninflight++;
	if ((mc = curl_multi_add_handle(h->multi, r->easy)) != CURLM_OK) {
		TAILQ_REMOVE(&h->running, r, entry);
		h->ninflight--;
		snprintf(err, errlen, "http: %s", curl_multi_strerror(mc));
		r->state = HTTP_REQ_DONE;
		goto fail;
	}
	return r;
nomem:
	snprintf(err, errlen, "http: out of memory");
fail:
	http_req_free(r);
	return NULL;
}

void
http_cancel(struct http_req *r)
{
	if (r == NULL)
		return;
	if (r->state == HTTP_REQ_RUNNING) {
		http_req_detach(r);
		http_req_free(r);
	} else
		/* Finished, waiting in the dispatcher's list: it frees it. */
		r->cancelled = 1;
}

size_t
http_inflight(const struct http *h)
{
	return h != NULL ? h->ninflight : 0;
}

void
http_min_host_connections(struct http *h, long n)
{
	if (h == NULL || n <= h->host_conns)
		return;
	h->host_conns = n;
	http_set_conns(h);
}

static void
http_free_final(struct http *h)
{
	struct http_sock	*s;

	while (h->nidle > 0)
		curl_easy_cleanup(h->idle[--h->nidle]);
	curl_multi_cleanup(h->multi);
	while ((s = LIST_FIRST(&h->socks)) != NULL)
		http_sock_free(s);
	event_free(h->timer);
	event_free(h->deliver);
	free(h->ca_file);
	free(h->ca_path);
	http_url_forget(h);
	if (h->last_u != NULL) {
		explicit_bzero(h->last_u, sizeof(*h->last_u));
		free(h->last_u);
	}
	free(h);
	curl_global_cleanup();
}

void
http_free(struct http *h)
{
	struct http_req	*r;

	if (h == NULL || h->free_pending)
		return;
	h->free_pending = 1;
	while ((r = TAILQ_FIRST(&h->running)) != NULL) {
		http_req_detach(r);
		http_deliver_cancelled(r);
		http_req_free(r);
	}
	/* Finished ones waiting for their turn are told "cancelled" and
	 * h freed; inside a callback the dispatcher does it on return. */
	if (h->dispatching == 0)
		http_deliver(h, 0);
}

int
http_head_complete(const char *buf, size_t len, size_t from)
{
	size_t	start = from > 3 ? from - 3 : 0;

	if (start >= len)
		return 0;
	return memmem(buf + start, len - start, "\r\n\r\n", 4) != NULL ||
	    memmem(buf + start, len - start, "\n\n", 2) != NULL;
}

int
http_parse_request_line(char *buf, char **method, char **path)
{
	char	*eol, *sp1, *sp2, *target, *q;

	if ((eol = strpbrk(buf, "\r\n")) != NULL)
		*eol = '\0';
	if ((sp1 = strchr(buf, ' ')) == NULL || sp1 == buf ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || sp2 == sp1 + 1 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return -1;
	*sp1 = *sp2 = '\0';
	target = sp1 + 1;
	/* The absolute form (sent to a proxy) names the path after the
	 * authority; without a path it is "/". */
	if (strncasecmp(target, "http://", 7) == 0 ||
	    strncasecmp(target, "https://", 8) == 0) {
		q = strchr(target, ':') + 3;
		if ((target = strchr(q, '/')) == NULL) {
			sp1[1] = '/';
			sp1[2] = '\0';
			target = sp1 + 1;
		}
	}
	if ((q = strchr(target, '?')) != NULL)
		*q = '\0';
	*method = buf;
	*path = target;
	return 0;
}

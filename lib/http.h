/*
 * Asynchronous HTTP on the libevent loop: libcurl's multi interface glued
 * to libevent as curl's hiperfifo example does (one event per socket, one
 * timer).  Used by the KMS client, the credential providers and the
 * notifiers.  Nothing here blocks.
 */
#ifndef KEYHEALTHD_HTTP_H
#define KEYHEALTHD_HTTP_H

#include <stddef.h>

struct event_base;
struct http;
struct http_req;

/* Defaults for http_opts left 0; lib/config derives kms.connect_timeout
 * and kms.timeout's from them. */
#define HTTP_DEF_CONNECT_MS	5000
#define HTTP_DEF_TIMEOUT_MS	15000

struct http_opts {
	long		 connect_timeout_ms;	/* HTTP_DEF_CONNECT_MS */
	long		 timeout_ms;		/* whole request;
						 * HTTP_DEF_TIMEOUT_MS */
	size_t		 max_body;		/* response cap; default 1 MiB */
	const char	*ca_file;		/* NULL: the system's */
	const char	*ca_path;
	long		 max_host_connections;	/* per host; default 8 */
};

struct http_request {
	const char		*method;	/* "GET", "POST", "PUT" */
	const char		*url;
	const char * const	*headers;	/* "Name: value", NULL-terminated */
	const void		*body;
	size_t			 bodylen;
	long			 timeout_ms;	/* 0: the http's default */
	size_t			 max_body;	/* 0: the http's default */
	int			 secret_url;	/* the URL's path is a credential
						 * (a Slack webhook): never
						 * logged, not even at -vv */
	/* Names of headers whose values are never logged, on top of the
	 * built-in list (Authorization, tokens ...): a webhook's configured
	 * headers.  NULL-terminated, may be NULL; copied. */
	const char * const	*secret_headers;
	/* Only the status matters (a notifier): an answer longer than
	 * max_body is not an error; reading stops there, the rest is
	 * discarded, and the response is ok with truncated set. */
	int			 discard_excess;
};

/* What came back.  Valid only during the callback. */
struct http_response {
	int		 ok;		/* transport succeeded (any status) */
	long		 status;	/* HTTP status, 0 when !ok */
	const char	*body;		/* NUL-terminated; may be empty */
	size_t		 bodylen;
	const char	*date;		/* the Date header or NULL */
	const char	*content_type;	/* or NULL */
	/* when !ok: */
	int		 curl_code;	/* CURLcode */
	const char	*error;		/* "Connection refused", "response
					 * larger than 1048576 bytes" ... */
	int		 too_large;	/* the body exceeded max_body */
	int		 truncated;	/* ok, but the body was cut at max_body
					 * (discard_excess) */
	double		 elapsed;	/* seconds */
};

/* Called exactly once per submitted request (also when it is cancelled by
 * http_free(), then with ok = 0 and error "cancelled"), from the event
 * loop, in the order the transfers ended, at most HTTP_DELIVER_PER_TURN
 * per loop turn: many transfers ending together never hold the loop for
 * all their callbacks at once. */
#define HTTP_DELIVER_PER_TURN	16
typedef void (*http_cb)(const struct http_response *res, void *arg);

/* A client on base; opts may be NULL for the defaults.  NULL on error.
 * The caller frees it with http_free(). */
struct http	*http_new(struct event_base *base,
		    const struct http_opts *opts, char *err, size_t errlen);
/*
 * Starts req; copies everything it needs.  Returns a handle for
 * http_cancel(), or NULL with err set (bad URL, out of memory), in which
 * case cb is not called.  cb never runs before http_submit() returns.
 */
struct http_req	*http_submit(struct http *h, const struct http_request *req,
		    http_cb cb, void *arg, char *err, size_t errlen);
/* Cancels a request whose callback has not run yet; cb is not called. */
void		 http_cancel(struct http_req *r);
/* Requests in flight. */
size_t		 http_inflight(const struct http *h);
/* Raises the per-host connection cap to at least n (kms_client_new() does,
 * to its max_inflight, so that no request waits inside curl while its
 * timeout runs). */
void		 http_min_host_connections(struct http *h, long n);
/* Cancels everything in flight (callbacks run with "cancelled") and frees. */
void		 http_free(struct http *h);

/*
 * The server side, for the daemon's own endpoint: parsing what a client
 * sent.  Pure functions over a buffer the caller owns.
 *
 * Non-zero when buf (len bytes) holds the blank line that ends a request's
 * headers ("\r\n\r\n" or "\n\n").  Only bytes from `from` on are new: the
 * search starts 3 bytes before it, so a client that sends a byte at a time
 * costs linear time.
 */
int		 http_head_complete(const char *buf, size_t len, size_t from);
/*
 * Splits the request line "METHOD SP TARGET SP HTTP/1.x" at the start of
 * buf (NUL-terminated) in place: *method, and *path without the query
 * string (and without the scheme and authority of the absolute form),
 * point into buf.  0, or -1 when it is not such a line.
 */
int		 http_parse_request_line(char *buf, char **method,
		    char **path);

#endif

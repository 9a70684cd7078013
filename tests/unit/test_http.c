/*
 * lib/http against a tiny HTTP/1.1 server on loopback, run in threads of
 * the test process (one thread per connection, keep-alive).  Paths choose
 * the server's behaviour:
 *   /hello            200 "hello world", fixed Date, text/plain
 *   /echo             200, the request body
 *   /headers          200, the request's header block
 *   /status/N         status N, body "status N"
 *   /big/N            N bytes with Content-Length
 *   /chunked/N        N bytes chunked (no Content-Length)
 *   /sleep/MS         200 "slept" after MS milliseconds
 *   /redirect         302 to /hello
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define SRV_DATE	"Sat, 28 Nov 2026 21:00:00 GMT"

struct srv {
	int		 lfd;
	int		 port;
	pthread_t	 thr;
	atomic_int	 stop;
	atomic_int	 conns;		/* accepted so far */
	atomic_int	 live;		/* connection threads running */
	atomic_int	 active;	/* requests being handled now */
	atomic_int	 max_active;
	atomic_int	 requests;
};

struct conn {
	struct srv	*srv;
	int		 fd;
};

static int
srv_stopped(struct srv *s)
{
	return atomic_load(&s->stop);
}

static void
srv_sleep_ms(struct srv *s, long ms)
{
	struct timespec	ts = { 0, 10 * 1000000L };

	for (; ms > 0 && !srv_stopped(s); ms -= 10)
		nanosleep(&ts, NULL);
}

static int
srv_write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
srv_respond(int fd, int status, const char *ctype, const char *body,
    size_t len, const char *extra)
{
	char	hdr[512];
	int	n;

	n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d X\r\nDate: " SRV_DATE
	    "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
	    ctype, len, extra != NULL ? extra : "");
	if (srv_write_all(fd, hdr, (size_t)n) == -1)
		return -1;
	return len > 0 ? srv_write_all(fd, body, len) : 0;
}

static int
srv_big(int fd, size_t n, int chunked)
{
	char	hdr[256], chunk[8192], sz[32];
	size_t	left, k;
	int	len;

	memset(chunk, 'x', sizeof(chunk));
	if (chunked)
		len = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n");
	else
		len = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\n"
		    "Content-Length: %zu\r\n\r\n", n);
	if (srv_write_all(fd, hdr, (size_t)len) == -1)
		return -1;
	for (left = n; left > 0; left -= k) {
		k = left < sizeof(chunk) ? left : sizeof(chunk);
		if (chunked) {
			len = snprintf(sz, sizeof(sz), "%zx\r\n", k);
			if (srv_write_all(fd, sz, (size_t)len) == -1)
				return -1;
		}
		if (srv_write_all(fd, chunk, k) == -1)
			return -1;
		if (chunked && srv_write_all(fd, "\r\n", 2) == -1)
			return -1;
	}
	if (chunked && srv_write_all(fd, "0\r\n\r\n", 5) == -1)
		return -1;
	return 0;
}

/* Handles one request in buf (headers + body); 0 to keep the connection. */
static int
srv_handle(struct srv *s, int fd, const char *buf, size_t hdrlen,
    const char *body, size_t bodylen)
{
	char		 method[16], path[256];
	long		 n;
	int		 rc, a, m;

	if (sscanf(buf, "%15s %255s", method, path) != 2)
		return -1;
	atomic_fetch_add(&s->requests, 1);
	a = atomic_fetch_add(&s->active, 1) + 1;
	m = atomic_load(&s->max_active);
	while (a > m && !atomic_compare_exchange_weak(&s->max_active, &m, a))
		;
	if (strcmp(path, "/hello") == 0)
		rc = srv_respond(fd, 200, "text/plain", "hello world", 11,
		    NULL);
	else if (strcmp(path, "/echo") == 0)
		rc = srv_respond(fd, 200, "application/octet-stream", body,
		    bodylen, NULL);
	else if (strcmp(path, "/headers") == 0)
		rc = srv_respond(fd, 200, "text/plain", buf, hdrlen, NULL);
	else if (sscanf(path, "/status/%ld", &n) == 1) {
		char	b[32];
		int	bl = snprintf(b, sizeof(b), "status %ld", n);

		rc = srv_respond(fd, (int)n, "text/plain", b, (size_t)bl,
		    NULL);
	} else if (sscanf(path, "/big/%ld", &n) == 1)
		rc = srv_big(fd, (size_t)n, 0);
	else if (sscanf(path, "/chunked/%ld", &n) == 1)
		rc = srv_big(fd, (size_t)n, 1);
	else if (sscanf(path, "/sleep/%ld", &n) == 1) {
		srv_sleep_ms(s, n);
		rc = srv_respond(fd, 200, "text/plain", "slept", 5, NULL);
	} else if (strcmp(path, "/redirect") == 0)
		rc = srv_respond(fd, 302, "text/plain", "", 0,
		    "Location: /hello\r\n");
	else
		rc = srv_respond(fd, 404, "text/plain", "no", 2, NULL);
	atomic_fetch_sub(&s->active, 1);
	return rc;
}

static void *
srv_conn(void *arg)
{
	struct conn	*c = arg;
	struct srv	*s = c->srv;
	char		*buf;
	size_t		 cap = 1 << 20, len = 0, hdrlen, need;
	ssize_t		 n;
	char		*eoh, *cl;
	long		 clen;
	struct pollfd	 pfd;

	buf = malloc(cap + 1);
	while (buf != NULL && !srv_stopped(s)) {
		buf[len] = '\0';
		if ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			hdrlen = (size_t)(eoh - buf) + 4;
			clen = 0;
			if ((cl = strcasestr(buf, "\r\nContent-Length:")) !=
			    NULL && cl < eoh)
				clen = strtol(cl + 17, NULL, 10);
			need = hdrlen + (size_t)clen;
			if (len >= need) {
				if (srv_handle(s, c->fd, buf, hdrlen,
				    buf + hdrlen, (size_t)clen) == -1)
					break;
				memmove(buf, buf + need, len - need);
				len -= need;
				continue;
			}
		}
		if (len >= cap)
			break;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recv(c->fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	free(buf);
	close(c->fd);
	atomic_fetch_sub(&s->live, 1);
	free(c);
	return NULL;
}

static void *
srv_accept(void *arg)
{
	struct srv	*s = arg;
	struct pollfd	 pfd;
	struct conn	*c;
	pthread_t	 t;
	int		 fd;

	while (!srv_stopped(s)) {
		pfd.fd = s->lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) == -1)
			continue;
		atomic_fetch_add(&s->conns, 1);
		atomic_fetch_add(&s->live, 1);
		c = malloc(sizeof(*c));
		c->srv = s;
		c->fd = fd;
		if (pthread_create(&t, NULL, srv_conn, c) != 0) {
			close(fd);
			free(c);
			atomic_fetch_sub(&s->live, 1);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static struct srv *
srv_start(void)
{
	struct srv		*s = calloc(1, sizeof(*s));
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 one = 1;

	ck_assert_ptr_nonnull(s);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->lfd, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	ck_assert_int_eq(listen(s->lfd, 256), 0);
	getsockname(s->lfd, (struct sockaddr *)&sin, &sl);
	s->port = ntohs(sin.sin_port);
	ck_assert_int_eq(pthread_create(&s->thr, NULL, srv_accept, s), 0);
	return s;
}

static void
srv_stop(struct srv *s)
{
	struct timespec	ts = { 0, 5 * 1000000L };

	atomic_store(&s->stop, 1);
	pthread_join(s->thr, NULL);
	close(s->lfd);
	while (atomic_load(&s->live) > 0)
		nanosleep(&ts, NULL);
	free(s);
}

/* A port nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* --- the client side --- */

struct result {
	int	 called;
	int	 ok;
	long	 status;
	char	*body;
	size_t	 bodylen;
	char	 date[64];
	char	 ctype[64];
	int	 curl_code;
	char	 error[256];
	int	 too_large;
	double	 elapsed;
};

struct ctx {
	struct event_base	*base;
	struct http		*h;
	struct srv		*srv;
	int			 pending;	/* callbacks still expected */
};

static struct ctx	*g_ctx;

static void
save_cb(const struct http_response *res, void *arg)
{
	struct result	*r = arg;

	r->called++;
	r->ok = res->ok;
	r->status = res->status;
	r->body = malloc(res->bodylen + 1);
	memcpy(r->body, res->body, res->bodylen + 1);
	r->bodylen = res->bodylen;
	snprintf(r->date, sizeof(r->date), "%s", res->date ? res->date : "");
	snprintf(r->ctype, sizeof(r->ctype), "%s",
	    res->content_type ? res->content_type : "");
	r->curl_code = res->curl_code;
	snprintf(r->error, sizeof(r->error), "%s",
	    res->error ? res->error : "");
	r->too_large = res->too_large;
	r->elapsed = res->elapsed;
	if (--g_ctx->pending == 0)
		event_base_loopbreak(g_ctx->base);
}

static void
result_clear(struct result *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void
watchdog_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	(void)arg;
	ck_abort_msg("event loop watchdog expired");
}

static void
ctx_setup(struct ctx *c, const struct http_opts *opts)
{
	char	err[256];

	memset(c, 0, sizeof(*c));
	g_ctx = c;
	c->base = event_base_new();
	ck_assert_ptr_nonnull(c->base);
	c->h = http_new(c->base, opts, err, sizeof(err));
	ck_assert_msg(c->h != NULL, "http_new: %s", err);
	c->srv = srv_start();
}

static void
ctx_run(struct ctx *c, int seconds)
{
	struct event	*wd = evtimer_new(c->base, watchdog_cb, NULL);
	struct timeval	 tv = { seconds, 0 };

	evtimer_add(wd, &tv);
	if (c->pending > 0)
		event_base_dispatch(c->base);
	event_free(wd);
}

static void
ctx_teardown(struct ctx *c)
{
	http_free(c->h);
	event_base_free(c->base);
	srv_stop(c->srv);
}

static struct http_req *
submit(struct ctx *c, const char *method, const char *path,
    const char *body, struct result *r)
{
	struct http_request	 req;
	struct http_req		*hr;
	char			 url[256], err[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", c->srv->port,
	    path);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.body = body;
	req.bodylen = body ? strlen(body) : 0;
	hr = http_submit(c->h, &req, save_cb, r, err, sizeof(err));
	ck_assert_msg(hr != NULL, "http_submit: %s", err);
	c->pending++;
	return hr;
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_http_get_body_status_date_content_type)
{
	struct ctx	c;
	struct result	r = { 0 };

	ctx_setup(&c, NULL);
	submit(&c, "GET", "/hello", NULL, &r);
	ck_assert_uint_eq(http_inflight(c.h), 1);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.called, 1);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "hello world");
	ck_assert_uint_eq(r.bodylen, 11);
	ck_assert_str_eq(r.date, SRV_DATE);
	ck_assert_str_eq(r.ctype, "text/plain");
	ck_assert_uint_eq(http_inflight(c.h), 0);
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_post_sends_body_and_headers)
{
	struct ctx		 c;
	struct result		 r = { 0 }, r2 = { 0 };
	struct http_request	 req;
	const char		*hdrs[] = { "X-Amz-Target: TrentService.X",
				    "Content-Type: application/x-amz-json-1.1",
				    NULL };
	char			 url[128], err[128];
	char			 body[64];

	ctx_setup(&c, NULL);
	snprintf(body, sizeof(body), "{\"KeyId\":\"k\"}");
	submit(&c, "POST", "/echo", body, &r);
	/* The client copied the body: scribbling on ours changes nothing. */
	memset(body, 'Z', sizeof(body) - 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/headers", c.srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.headers = hdrs;
	req.body = "{}";
	req.bodylen = 2;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, save_cb, &r2, err,
	    sizeof(err)));
	c.pending++;
	ctx_run(&c, 10);
	ck_assert_str_eq(r.body, "{\"KeyId\":\"k\"}");
	ck_assert_ptr_nonnull(strstr(r2.body, "POST /headers HTTP/1.1"));
	ck_assert_ptr_nonnull(strstr(r2.body, "X-Amz-Target: TrentService.X"));
	ck_assert_ptr_nonnull(strstr(r2.body,
	    "Content-Type: application/x-amz-json-1.1"));
	ck_assert_ptr_null(strstr(r2.body, "Expect:"));
	result_clear(&r);
	result_clear(&r2);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_error_status_is_ok_transport)
{
	struct ctx	c;
	struct result	r = { 0 };

	ctx_setup(&c, NULL);
	submit(&c, "GET", "/status/503", NULL, &r);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, "status 503");
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_redirect_not_followed)
{
	struct ctx	c;
	struct result	r = { 0 };

	ctx_setup(&c, NULL);
	submit(&c, "GET", "/redirect", NULL, &r);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.status, 302);
	ck_assert_int_eq(atomic_load(&c.srv->requests), 1);
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_body_over_cap_with_length_is_too_large)
{
	struct ctx	c;
	struct result	r = { 0 };

	ctx_setup(&c, NULL);
	submit(&c, "GET", "/big/2000000", NULL, &r);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.too_large, 1);
	ck_assert_str_eq(r.error, "response larger than 1048576 bytes");
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_chunked_body_over_cap_is_too_large)
{
	struct ctx		 c;
	struct result		 r = { 0 }, r2 = { 0 };
	struct http_opts	 o = { .max_body = 10000 };

	ctx_setup(&c, &o);
	submit(&c, "GET", "/chunked/10001", NULL, &r);
	submit(&c, "GET", "/chunked/10000", NULL, &r2);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.too_large, 1);
	ck_assert_int_eq(r.curl_code, CURLE_WRITE_ERROR);
	ck_assert_str_eq(r.error, "response larger than 10000 bytes");
	ck_assert_int_eq(r2.ok, 1);
	ck_assert_uint_eq(r2.bodylen, 10000);
	result_clear(&r);
	result_clear(&r2);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_per_request_cap_and_timeout_override)
{
	struct ctx		 c;
	struct result		 r = { 0 }, r2 = { 0 };
	struct http_request	 req;
	char			 url[128], err[128];

	ctx_setup(&c, NULL);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big/600", c.srv->port);
	req.url = url;
	req.max_body = 500;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	c.pending++;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/sleep/3000",
	    c.srv->port);
	req.max_body = 0;
	req.timeout_ms = 200;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, save_cb, &r2, err,
	    sizeof(err)));
	c.pending++;
	ctx_run(&c, 10);
	ck_assert_int_eq(r.too_large, 1);
	ck_assert_int_eq(r2.ok, 0);
	ck_assert_int_eq(r2.curl_code, CURLE_OPERATION_TIMEDOUT);
	result_clear(&r);
	result_clear(&r2);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_total_timeout)
{
	struct ctx		 c;
	struct result		 r = { 0 };
	struct http_opts	 o = { .timeout_ms = 300 };
	double			 t0;

	ctx_setup(&c, &o);
	t0 = now_s();
	submit(&c, "GET", "/sleep/5000", NULL, &r);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(r.curl_code, CURLE_OPERATION_TIMEDOUT);
	ck_assert_ptr_nonnull(strstr(r.error, "timed out"));
	ck_assert_double_lt(now_s() - t0, 2.0);
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_connection_refused)
{
	struct ctx		 c;
	struct result		 r = { 0 };
	struct http_request	 req;
	char			 url[128], err[128];

	ctx_setup(&c, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	c.pending++;
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.curl_code, CURLE_COULDNT_CONNECT);
	ck_assert_str_ne(r.error, "");
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_rejects_other_schemes_and_bad_headers)
{
	struct ctx		 c;
	struct http_request	 req;
	const char		*bad[] = { "X-A: b\r\nX-Injected: 1", NULL };
	char			 err[128];
	struct result		 r = { 0 };

	ctx_setup(&c, NULL);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = "ftp://127.0.0.1/x";
	ck_assert_ptr_null(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "expected an http:// or https://"));
	req.url = "file:///etc/passwd";
	ck_assert_ptr_null(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	req.url = "http://127.0.0.1/";
	req.headers = bad;
	ck_assert_ptr_null(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "http: malformed header");
	ck_assert_uint_eq(http_inflight(c.h), 0);
	ck_assert_int_eq(r.called, 0);
	ctx_teardown(&c);
}
END_TEST

static void
cancel_timer_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	http_cancel(arg);
	ck_assert_uint_eq(http_inflight(g_ctx->h), 1);
}

START_TEST(test_http_cancel_suppresses_callback)
{
	struct ctx	 c;
	struct result	 r = { 0 }, r2 = { 0 };
	struct http_req	*hr;
	struct event	*ev;
	struct timeval	 tv = { 0, 100000 };

	ctx_setup(&c, NULL);
	hr = submit(&c, "GET", "/sleep/2000", NULL, &r);
	c.pending--;		/* it will never call back */
	submit(&c, "GET", "/sleep/300", NULL, &r2);
	ev = evtimer_new(c.base, cancel_timer_cb, hr);
	evtimer_add(ev, &tv);
	ctx_run(&c, 10);
	ck_assert_int_eq(r.called, 0);
	ck_assert_int_eq(r2.called, 1);
	ck_assert_int_eq(r2.ok, 1);
	ck_assert_uint_eq(http_inflight(c.h), 0);
	event_free(ev);
	result_clear(&r2);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_free_cancels_inflight_with_callbacks)
{
	struct ctx	c;
	struct result	r[5];
	int		i;

	memset(r, 0, sizeof(r));
	ctx_setup(&c, NULL);
	for (i = 0; i < 5; i++)
		submit(&c, "GET", "/sleep/3000", NULL, &r[i]);
	ck_assert_uint_eq(http_inflight(c.h), 5);
	http_free(c.h);
	c.h = NULL;
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].ok, 0);
		ck_assert_str_eq(r[i].error, "cancelled");
		result_clear(&r[i]);
	}
	ctx_teardown(&c);
}
END_TEST

static struct result	free_in_cb_rest[3];
static int		free_in_cb_called;

static void
free_in_cb(const struct http_response *res, void *arg)
{
	struct ctx	*c = arg;

	(void)res;
	free_in_cb_called++;
	http_free(c->h);
	c->h = NULL;
	event_base_loopbreak(c->base);
}

START_TEST(test_http_free_from_inside_a_callback)
{
	struct ctx		 c;
	struct http_request	 req;
	char			 url[128], err[128];
	int			 i;

	ctx_setup(&c, NULL);
	for (i = 0; i < 3; i++)
		submit(&c, "GET", "/sleep/3000", NULL, &free_in_cb_rest[i]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", c.srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, free_in_cb, &c, err,
	    sizeof(err)));
	c.pending++;
	ctx_run(&c, 10);
	ck_assert_int_eq(free_in_cb_called, 1);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(free_in_cb_rest[i].called, 1);
		ck_assert_str_eq(free_in_cb_rest[i].error, "cancelled");
		result_clear(&free_in_cb_rest[i]);
	}
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_many_requests_in_flight_concurrently)
{
	struct ctx		 c;
	struct http_opts	 o = { .max_host_connections = 64 };
	struct result		*r = calloc(100, sizeof(*r));
	double			 t0, dt;
	int			 i;

	ctx_setup(&c, &o);
	t0 = now_s();
	for (i = 0; i < 100; i++)
		submit(&c, "GET", "/sleep/300", NULL, &r[i]);
	ck_assert_uint_eq(http_inflight(c.h), 100);
	ctx_run(&c, 20);
	dt = now_s() - t0;
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(r[i].ok, 1);
		ck_assert_str_eq(r[i].body, "slept");
		result_clear(&r[i]);
	}
	/* 100 x 300 ms serially would be 30 s; 64 at a time is 2 rounds. */
	ck_assert_msg(dt < 3.0, "took %.2fs", dt);
	ck_assert_int_le(atomic_load(&c.srv->max_active), 64);
	ck_assert_int_ge(atomic_load(&c.srv->max_active), 32);
	free(r);
	ctx_teardown(&c);
}
END_TEST

/*
 * Turns of the loop, counted by a timer due at once and re-armed each
 * time it runs: it runs once per turn.
 */
static int	turn_no, turn_cb_turn, turn_cb_n, turn_cb_max, turn_cb_turns;

static void
turn_tick_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct timeval	tv = { 0, 0 };

	(void)fd;
	(void)kind;
	turn_no++;
	evtimer_add(arg, &tv);
}

/* Holds the loop while the server answers every request. */
static void
turn_block_cb(evutil_socket_t fd, short kind, void *arg)
{
	struct timespec	ts = { 1, 0 };

	(void)fd;
	(void)kind;
	(void)arg;
	nanosleep(&ts, NULL);
}

static void
turn_count_cb(const struct http_response *res, void *arg)
{
	if (turn_cb_turn != turn_no || turn_cb_turns == 0) {
		turn_cb_turn = turn_no;
		turn_cb_n = 0;
		turn_cb_turns++;
	}
	if (++turn_cb_n > turn_cb_max)
		turn_cb_max = turn_cb_n;
	save_cb(res, arg);
}

/*
 * Submits n requests the server answers after 300 ms, and a timer that
 * holds the loop from 150 ms to 1.15 s: every answer is waiting when
 * the loop resumes.  Returns the timer.
 */
static struct event *
submit_sleepers(struct ctx *c, int n, http_cb cb, struct result *r)
{
	struct http_request	 req;
	struct event		*block;
	struct timeval		 at = { 0, 150000 };
	char			 url[128], err[128];
	int			 i;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/sleep/300",
	    c->srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	for (i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(http_submit(c->h, &req, cb, &r[i], err,
		    sizeof(err)));
		c->pending++;
	}
	block = evtimer_new(c->base, turn_block_cb, NULL);
	evtimer_add(block, &at);
	return block;
}

START_TEST(test_http_callbacks_are_bounded_per_loop_turn)
{
	struct ctx		 c;
	struct http_opts	 o = { .max_host_connections = 64 };
	struct result		*r = calloc(64, sizeof(*r));
	struct event		*tick, *block;
	struct timeval		 now = { 0, 0 };
	int			 i;

	ctx_setup(&c, &o);
	block = submit_sleepers(&c, 64, turn_count_cb, r);
	tick = evtimer_new(c.base, turn_tick_cb, event_self_cbarg());
	evtimer_add(tick, &now);
	ctx_run(&c, 20);
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].ok, 1);
		ck_assert_str_eq(r[i].body, "slept");
		result_clear(&r[i]);
	}
	ck_assert_msg(turn_cb_max <= HTTP_DELIVER_PER_TURN,
	    "%d callbacks in one loop turn", turn_cb_max);
	ck_assert_int_ge(turn_cb_turns, 64 / HTTP_DELIVER_PER_TURN);
	event_free(tick);
	event_free(block);
	free(r);
	ctx_teardown(&c);
}
END_TEST

static int		 done_free_called;
static struct result	 done_free_r[40];

/* The first callback frees the client while the others wait their turn. */
static void
done_free_cb(const struct http_response *res, void *arg)
{
	save_cb(res, arg);
	if (done_free_called++ == 0) {
		http_free(g_ctx->h);
		g_ctx->h = NULL;
		event_base_loopbreak(g_ctx->base);
	}
}

START_TEST(test_http_free_tells_transfers_waiting_their_turn)
{
	struct ctx		 c;
	struct http_opts	 o = { .max_host_connections = 64 };
	struct event		*block;
	int			 i, ok = 0, cancelled = 0;

	ctx_setup(&c, &o);
	block = submit_sleepers(&c, 40, done_free_cb, done_free_r);
	ctx_run(&c, 20);
	/* Every request called back exactly once, nothing lost. */
	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(done_free_r[i].called, 1);
		if (done_free_r[i].ok)
			ok++;
		else if (strcmp(done_free_r[i].error, "cancelled") == 0)
			cancelled++;
		result_clear(&done_free_r[i]);
	}
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(cancelled, 39);
	event_free(block);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_host_connection_cap_queues_the_rest)
{
	struct ctx		 c;
	struct http_opts	 o = { .max_host_connections = 4 };
	struct result		 r[12];
	int			 i;

	memset(r, 0, sizeof(r));
	ctx_setup(&c, &o);
	for (i = 0; i < 12; i++)
		submit(&c, "GET", "/sleep/100", NULL, &r[i]);
	ctx_run(&c, 20);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(r[i].ok, 1);
		result_clear(&r[i]);
	}
	ck_assert_int_le(atomic_load(&c.srv->max_active), 4);
	ck_assert_int_le(atomic_load(&c.srv->conns), 4);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_min_host_connections_only_raises)
{
	struct ctx		 c;
	struct http_opts	 o = { .max_host_connections = 2 };
	struct result		 r[12];
	int			 i;

	memset(r, 0, sizeof(r));
	ctx_setup(&c, &o);
	http_min_host_connections(c.h, 6);
	http_min_host_connections(c.h, 1);
	for (i = 0; i < 12; i++)
		submit(&c, "GET", "/sleep/300", NULL, &r[i]);
	ctx_run(&c, 20);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(r[i].ok, 1);
		result_clear(&r[i]);
	}
	ck_assert_int_le(atomic_load(&c.srv->max_active), 6);
	ck_assert_int_ge(atomic_load(&c.srv->max_active), 5);
	ctx_teardown(&c);
}
END_TEST

/* Each callback submits the next request: one connection serves them all. */
static struct result	chain_res[10];
static int		chain_n;

static void
chain_cb(const struct http_response *res, void *arg)
{
	struct ctx		*c = arg;
	struct http_request	 req;
	char			 url[128], err[128];

	ck_assert_int_eq(res->ok, 1);
	chain_res[chain_n].ok = res->ok;
	if (++chain_n == 10) {
		event_base_loopbreak(c->base);
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", c->srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	ck_assert_ptr_nonnull(http_submit(c->h, &req, chain_cb, c, err,
	    sizeof(err)));
}

START_TEST(test_http_connection_reused)
{
	struct ctx		 c;
	struct http_request	 req;
	char			 url[128], err[128];

	ctx_setup(&c, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", c.srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, chain_cb, &c, err,
	    sizeof(err)));
	c.pending = 1;
	ctx_run(&c, 10);
	ck_assert_int_eq(chain_n, 10);
	ck_assert_int_eq(atomic_load(&c.srv->requests), 10);
	ck_assert_int_eq(atomic_load(&c.srv->conns), 1);
	ctx_teardown(&c);
}
END_TEST

/*
 * Connections opened in a burst stay open through a lull of one request
 * at a time and serve the next burst.  curl's default idle cache is four
 * connections per transfer in progress: each request of the lull closed
 * one of them, and the next burst connected again (at 1,000 keys the
 * daemon opened a connection every seven KMS requests).
 */
START_TEST(test_http_connections_kept_between_bursts)
{
	struct ctx		 c;
	struct http_opts	 o = { .max_host_connections = 8 };
	struct result		 r[8];
	int			 burst, i;

	memset(r, 0, sizeof(r));
	ctx_setup(&c, &o);
	for (burst = 0; burst < 2; burst++) {
		for (i = 0; i < 8; i++)
			submit(&c, "GET", "/sleep/300", NULL, &r[i]);
		ctx_run(&c, 20);
		for (i = 0; i < 8; i++) {
			ck_assert_int_eq(r[i].ok, 1);
			result_clear(&r[i]);
		}
		ck_assert_int_eq(atomic_load(&c.srv->conns), 8);
		/* The lull. */
		for (i = 0; i < 8; i++) {
			submit(&c, "GET", "/hello", NULL, &r[0]);
			ctx_run(&c, 20);
			ck_assert_int_eq(r[0].ok, 1);
			result_clear(&r[0]);
		}
	}
	ck_assert_int_eq(atomic_load(&c.srv->requests), 32);
	ck_assert_msg(atomic_load(&c.srv->conns) == 8, "%d connections for "
	    "two bursts of 8", atomic_load(&c.srv->conns));
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_https_verification_fails_on_plain_server)
{
	struct ctx		 c;
	struct result		 r = { 0 };
	struct http_request	 req;
	struct http_opts	 o = { .timeout_ms = 3000,
				    .ca_file = "/nonexistent/ca.pem" };
	char			 url[128], err[128];

	ctx_setup(&c, &o);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", c.srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	ck_assert_ptr_nonnull(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	c.pending++;
	ctx_run(&c, 10);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_ne(r.curl_code, CURLE_OK);
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

START_TEST(test_http_verbose_log_redacts_credentials)
{
	struct ctx		 c;
	struct result		 r = { 0 };
	struct http_request	 req;
	const char		*hdrs[] = {
				    "Authorization: AWS4-HMAC-SHA256 "
				    "Credential=AKIDEXAMPLE/x, Signature=SIGVALUE",
				    "X-Amz-Security-Token: TOKENVALUE",
				    "X-Amz-Target: TrentService.DescribeKey",
				    NULL };
	char			 url[128], err[128], text[65536];
	FILE			*f = tmpfile();
	size_t			 n;
	int			 saved;

	ck_assert_ptr_nonnull(f);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(f), 2);
	log_init(LOG_TO_STDERR, 2, "test_http");
	ctx_setup(&c, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", c.srv->port);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.headers = hdrs;
	req.body = "{\"secretbody\":1}";
	req.bodylen = strlen(req.body);
	ck_assert_ptr_nonnull(http_submit(c.h, &req, save_cb, &r, err,
	    sizeof(err)));
	c.pending++;
	ctx_run(&c, 10);
	fflush(stderr);
	dup2(saved, 2);
	log_setverbose(0);
	close(saved);
	fseek(f, 0, SEEK_SET);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "Authorization: <redacted>"));
	ck_assert_ptr_nonnull(strstr(text, "X-Amz-Security-Token: <redacted>"));
	ck_assert_ptr_nonnull(strstr(text, "X-Amz-Target: TrentService"));
	ck_assert_ptr_nonnull(strstr(text, "HTTP/1.1 200"));
	ck_assert_ptr_null(strstr(text, "SIGVALUE"));
	ck_assert_ptr_null(strstr(text, "TOKENVALUE"));
	ck_assert_ptr_null(strstr(text, "secretbody"));
	result_clear(&r);
	ctx_teardown(&c);
}
END_TEST

/* The server side: what the daemon's endpoint reads from a client. */

START_TEST(test_http_head_complete_finds_the_blank_line_across_reads)
{
	const char	*req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t		 len = strlen(req), i;

	ck_assert(http_head_complete(req, len, 0));
	ck_assert(!http_head_complete(req, len - 1, 0));
	/* One byte at a time: complete exactly at the last one. */
	for (i = 1; i < len; i++)
		ck_assert(!http_head_complete(req, i, i - 1));
	ck_assert(http_head_complete(req, len, len - 1));
	ck_assert(http_head_complete("GET / HTTP/1.0\n\n", 16, 15));
	/* A NUL byte does not hide what follows it. */
	{
		static const char nul[] = "GET /\0 HTTP/1.1\r\n\r\n";

		ck_assert(http_head_complete(nul, sizeof(nul) - 1, 0));
	}
	ck_assert(!http_head_complete("", 0, 0));
}
END_TEST

START_TEST(test_http_parse_request_line_splits_method_and_path)
{
	char	buf[128], *m, *p;

	(void)snprintf(buf, sizeof(buf), "GET /metrics?x=1 HTTP/1.1\r\n"
	    "Host: a\r\n\r\n");
	ck_assert_int_eq(http_parse_request_line(buf, &m, &p), 0);
	ck_assert_str_eq(m, "GET");
	ck_assert_str_eq(p, "/metrics");
	(void)snprintf(buf, sizeof(buf), "HEAD http://h:9464/healthz "
	    "HTTP/1.0\n\n");
	ck_assert_int_eq(http_parse_request_line(buf, &m, &p), 0);
	ck_assert_str_eq(m, "HEAD");
	ck_assert_str_eq(p, "/healthz");
	(void)snprintf(buf, sizeof(buf), "GET http://h HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(http_parse_request_line(buf, &m, &p), 0);
	ck_assert_str_eq(p, "/");
}
END_TEST

START_TEST(test_http_parse_request_line_refuses_what_is_not_one)
{
	static const char * const bad[] = {
		"GET /\r\n\r\n", "GET / HTTP/2\r\n\r\n", " / HTTP/1.1\r\n",
		"GET  HTTP/1.1\r\n", "\r\n\r\n", "GET\r\n / HTTP/1.1\r\n",
		"", NULL
	};
	char	buf[128], *m, *p;
	size_t	i;

	for (i = 0; bad[i] != NULL; i++) {
		(void)snprintf(buf, sizeof(buf), "%s", bad[i]);
		ck_assert_msg(http_parse_request_line(buf, &m, &p) == -1,
		    "accepted '%s'", bad[i]);
	}
}
END_TEST

static Suite *
http_suite(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("loopback");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_http_get_body_status_date_content_type);
	tcase_add_test(tc, test_http_post_sends_body_and_headers);
	tcase_add_test(tc, test_http_error_status_is_ok_transport);
	tcase_add_test(tc, test_http_redirect_not_followed);
	tcase_add_test(tc, test_http_body_over_cap_with_length_is_too_large);
	tcase_add_test(tc, test_http_chunked_body_over_cap_is_too_large);
	tcase_add_test(tc, test_http_per_request_cap_and_timeout_override);
	tcase_add_test(tc, test_http_total_timeout);
	tcase_add_test(tc, test_http_connection_refused);
	tcase_add_test(tc, test_http_rejects_other_schemes_and_bad_headers);
	tcase_add_test(tc, test_http_cancel_suppresses_callback);
	tcase_add_test(tc, test_http_free_cancels_inflight_with_callbacks);
	tcase_add_test(tc, test_http_free_from_inside_a_callback);
	tcase_add_test(tc, test_http_many_requests_in_flight_concurrently);
	tcase_add_test(tc, test_http_host_connection_cap_queues_the_rest);
	tcase_add_test(tc, test_http_callbacks_are_bounded_per_loop_turn);
	tcase_add_test(tc, test_http_free_tells_transfers_waiting_their_turn);
	tcase_add_test(tc, test_http_connection_reused);
	tcase_add_test(tc, test_http_connections_kept_between_bursts);
	tcase_add_test(tc, test_http_min_host_connections_only_raises);
	tcase_add_test(tc, test_http_https_verification_fails_on_plain_server);
	tcase_add_test(tc, test_http_verbose_log_redacts_credentials);
	suite_add_tcase(s, tc);
	tc = tcase_create("server side");
	tcase_add_test(tc,
	    test_http_head_complete_finds_the_blank_line_across_reads);
	tcase_add_test(tc, test_http_parse_request_line_splits_method_and_path);
	tcase_add_test(tc, test_http_parse_request_line_refuses_what_is_not_one);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(http_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

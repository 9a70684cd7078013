/*
 * Helpers shared by the HTTP notifier modules: config validation with
 * FILE:LINE:COLUMN errors, secrets from files, times, and JSON POSTs that
 * stop() can take back.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "endpoint.h"
#include "http.h"
#include "notify_util.h"
#include "suggest.h"
#include "ynode.h"

static const char * const notify_util_common[] = {
	"type", "name", "min_severity", "checks", "exclude_checks", NULL
};

struct notify_util_post {
	TAILQ_ENTRY(notify_util_post)	 entry;
	struct notify_util_poster	*poster;
	struct http_req			*req;
	notify_done_cb			 done;
	void				*arg;
};

int
notify_util_error(struct notify_conf *nc, const struct ynode *at,
    const char *fmt, ...)
{
	char	msg[768];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	nc->error(nc, at, msg);
	return -1;
}

/* "a pagerduty notifier", "an alertmanager notifier". */
static const char *
notify_util_article(const char *type)
{
	return strchr("aeiou", type[0]) != NULL && type[0] != '\0' ? "an" :
	    "a";
}

const char *
notify_util_suggest(const char *word, const char * const *known)
{
	size_t	n;

	for (n = 0; known != NULL && known[n] != NULL; n++)
		;
	return suggest_closest(word, known, n);
}

static int
notify_util_listed(const char *word, const char * const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(word, *list) == 0)
			return 1;
	return 0;
}

int
notify_util_check_keys(const struct ynode *block, const char *type,
    const char * const *known, struct notify_conf *nc)
{
	const char	*hint, *all[64];
	size_t		 i, n = 0;
	int		 rc = 0;

	if (block == NULL || block->type != YNODE_MAP)
		return notify_util_error(nc, block, "%s %s notifier must be a "
		    "mapping", notify_util_article(type), type);
	for (i = 0; known != NULL && known[i] != NULL && n < 50; i++)
		all[n++] = known[i];
	for (i = 0; notify_util_common[i] != NULL; i++)
		all[n++] = notify_util_common[i];
	all[n] = NULL;
	for (i = 0; i < block->nitems; i++) {
		const struct ynode *k = block->keys[i];

		if (notify_util_listed(k->value, all))
			continue;
		if ((hint = notify_util_suggest(k->value, all)) != NULL)
			notify_util_error(nc, k, "unknown option \"%.64s\" for "
			    "%s %s notifier (did you mean \"%s\"?)", k->value,
			    notify_util_article(type), type, hint);
		else
			notify_util_error(nc, k, "unknown option \"%.64s\" for "
			    "%s %s notifier", k->value,
			    notify_util_article(type), type);
		rc = -1;
	}
	return rc;
}

int
notify_util_string(const struct ynode *block, const char *type,
    const char *key, int required, const char **out, struct notify_conf *nc)
{
	const struct ynode	*n;

	*out = NULL;
	if ((n = ynode_get(block, key)) == NULL) {
		if (!required)
			return 0;
		return notify_util_error(nc, block, "%s %s notifier needs "
		    "\"%s\"", notify_util_article(type), type, key);
	}
	if (n->type != YNODE_SCALAR)
		return notify_util_error(nc, n, "%s: expected a string, not a "
		    "%s", key, ynode_type_name(n->type));
	if (ynode_is_null(n) || n->valuelen == 0)
		return notify_util_error(nc, n, "%s: expected a string, not an "
		    "empty value", key);
	if (strlen(n->value) != n->valuelen)
		return notify_util_error(nc, n, "%s: contains a NUL byte", key);
	*out = n->value;
	return 0;
}

int
notify_util_duration(const struct ynode *block, const char *type,
    const char *key, long long def_ms, long long min_ms, long long max_ms,
    long long *out_ms, struct notify_conf *nc)
{
	const char	*s;
	char		 err[256], lo[32], hi[32];
	long long	 v;

	*out_ms = def_ms;
	if (notify_util_string(block, type, key, 0, &s, nc) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if (duration_parse_ms(s, &v, err, sizeof(err)) == -1)
		return notify_util_error(nc, ynode_get(block, key), "%s: %s",
		    key, err);
	if (v < min_ms || v > max_ms)
		return notify_util_error(nc, ynode_get(block, key), "%s: must "
		    "be between %s and %s, got %.40s", key,
		    duration_format_ms(min_ms, lo, sizeof(lo)),
		    duration_format_ms(max_ms, hi, sizeof(hi)), s);
	*out_ms = v;
	return 0;
}

int
notify_util_http_timeout(const struct ynode *block, const char *type,
    long long *out_ms, struct notify_conf *nc)
{
	return notify_util_duration(block, type, "timeout",
	    NOTIFY_UTIL_HTTP_TIMEOUT, NOTIFY_UTIL_HTTP_TIMEOUT_MIN,
	    NOTIFY_UTIL_HTTP_TIMEOUT_MAX, out_ms, nc);
}

int
notify_util_check_url(const struct ynode *block, const char *key,
    const char *url, int secret, struct notify_conf *nc)
{
	const struct ynode	*n = ynode_get(block, key);
	char			 e[512];

	/* A URL that is itself the credential must not cross a network in
	 * clear text, nor be echoed. */
	if (endpoint_url_parse(url, secret ? ENDPOINT_SECRET |
	    ENDPOINT_HTTP_LOOPBACK : 0, NULL, e, sizeof(e)) == 0)
		return 0;
	return notify_util_error(nc, n != NULL ? n : block, "%s: %s%s", key, e,
	    secret && strncmp(e, "plain http", 10) == 0 ? " for a secret URL; "
	    "use https" : "");
}

int
notify_util_read_secret(const struct ynode *block, const char *key,
    int required, char **out, size_t *outlen, struct notify_conf *nc)
{
	const struct ynode	*n = ynode_get(block, key);
	const char		*name, *dir;
	char			 path[PATH_MAX], *buf = NULL;
	struct stat		 st;
	ssize_t			 r;
	size_t			 len = 0, i;
	int			 fd = -1;

	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (n == NULL && !required)
		return 0;
	if (n == NULL || n->type != YNODE_SCALAR || ynode_is_null(n) ||
	    n->valuelen == 0)
		return notify_util_error(nc, n != NULL ? n : block, "%s: "
		    "expected a file name", key);
	name = n->value;
	if (name[0] == '/') {
		if ((size_t)snprintf(path, sizeof(path), "%s", name) >=
		    sizeof(path))
			return notify_util_error(nc, n, "%s: the path is too "
			    "long", key);
	} else {
		/* A relative name is a systemd credential (LoadCredential=):
		 * the daemon's working directory means nothing. */
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || *dir == '\0')
			return notify_util_error(nc, n, "%s: \"%.128s\" is a "
			    "relative name but $CREDENTIALS_DIRECTORY is not "
			    "set (use an absolute path or LoadCredential=)",
			    key, name);
		if (strstr(name, "..") != NULL)
			return notify_util_error(nc, n, "%s: a credential name "
			    "may not contain \"..\"", key);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		    sizeof(path))
			return notify_util_error(nc, n, "%s: the path is too "
			    "long", key);
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1)
		return notify_util_error(nc, n, "%s: %s: %s", key, path,
		    strerror(errno));
	if (fstat(fd, &st) == -1) {
		notify_util_error(nc, n, "%s: %s: %s", key, path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		notify_util_error(nc, n, "%s: %s is not a regular file", key,
		    path);
		goto fail;
	}
	/* A secret others can read is no secret; one they can write lets
	 * them redirect our alerts. */
	if (st.st_mode & (S_IRWXO | S_IWGRP)) {
		notify_util_error(nc, n, "%s: %s is readable or writable by "
		    "others (mode %04o): other users may %s it; chmod "
		    "o-rwx,g-w it", key, path,
		    (unsigned int)(st.st_mode & 07777),
		    (st.st_mode & (S_IWOTH | S_IWGRP)) ? "change" : "read");
		goto fail;
	}
	if ((buf = calloc(1, NOTIFY_UTIL_SECRET_MAX + 2)) == NULL) {
		notify_util_error(nc, n, "%s: out of memory", key);
		goto fail;
	}
	while (len <= NOTIFY_UTIL_SECRET_MAX) {
		r = read(fd, buf + len, NOTIFY_UTIL_SECRET_MAX + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			notify_util_error(nc, n, "%s: %s: %s", key, path,
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > NOTIFY_UTIL_SECRET_MAX) {
		notify_util_error(nc, n, "%s: %s is larger than %d bytes", key,
		    path, NOTIFY_UTIL_SECRET_MAX);
		goto fail;
	}
	close(fd);
	fd = -1;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	if (len == 0) {
		notify_util_error(nc, n, "%s: %s is empty", key, path);
		goto fail;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			notify_util_error(nc, n, "%s: %s must hold one line "
			    "without NUL or control characters", key, path);
			goto fail;
		}
	}
	*out = buf;
	if (outlen != NULL)
		*outlen = len;
	return 0;
fail:
	if (fd != -1)
		close(fd);
	notify_util_secret_free(buf);
	return -1;
}

void
notify_util_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

const char *
notify_util_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (len > 0)
			(void)snprintf(buf, len, "1970-01-01T00:00:00Z");
	}
	return buf;
}

char *
notify_util_truncate(const char *s, size_t max)
{
	size_t	 len = strlen(s), cut;
	char	*out;

	if (len <= max)
		return strdup(s);
	if (max < 3)
		return strndup("...", max);
	cut = max - 3;
	/* Back up over continuation bytes so no sequence is split. */
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	if ((out = malloc(cut + 4)) == NULL)
		return NULL;
	memcpy(out, s, cut);
	memcpy(out + cut, "...", 4);
	return out;
}

static void
notify_util_mask(char *s, const char *secret)
{
	size_t	 sl;
	char	*p;

	if (secret == NULL || (sl = strlen(secret)) == 0)
		return;
	while ((p = strstr(s, secret)) != NULL)
		memset(p, '*', sl);
}

enum notify_result
notify_util_classify(const struct http_response *res, const char *secret,
    char *why, size_t whylen)
{
	enum notify_result	 r;
	const char		*note = "";
	char			 snippet[201];
	size_t			 i, n = 0;

	if (!res->ok) {
		(void)snprintf(why, whylen, "%s",
		    res->error != NULL ? res->error : "transport error");
		notify_util_mask(why, secret);
		return NOTIFY_RETRY;
	}
	if (res->status >= 200 && res->status <= 299)
		r = NOTIFY_ACK;
	else if (res->status >= 400 && res->status <= 499 &&
	    res->status != 408 && res->status != 429)
		r = NOTIFY_PERMANENT;
	else {
		r = NOTIFY_RETRY;
		if (res->status >= 300 && res->status <= 399)
			note = " (a redirect: not followed, retried; set url "
			    "to the address it points to)";
	}
	/* Bodies come from the network: keep a short, printable start. */
	for (i = 0; res->body != NULL && i < res->bodylen &&
	    n < sizeof(snippet) - 1; i++) {
		unsigned char c = (unsigned char)res->body[i];

		snippet[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	snippet[n] = '\0';
	(void)snprintf(why, whylen, "HTTP %ld%s%s%s", res->status, note,
	    n > 0 ? ": " : "", snippet);
	notify_util_mask(why, secret);
	return r;
}

void
notify_util_poster_init(struct notify_util_poster *p, struct http *http,
    const char *url, const char *secret, long timeout_ms)
{
	p->http = http;
	p->url = url;
	p->secret = secret;
	p->timeout_ms = timeout_ms;
	p->secret_headers = NULL;
	p->secret_values = NULL;
	TAILQ_INIT(&p->posts);
}

static void
notify_util_post_cb(const struct http_response *res, void *arg)
{
	struct notify_util_post		*post = arg;
	struct notify_util_poster	*p = post->poster;
	enum notify_result		 r;
	char				 why[256];
	size_t				 i;

	TAILQ_REMOVE(&p->posts, post, entry);
	r = notify_util_classify(res, p->secret, why, sizeof(why));
	/* A receiver may echo what it got (an API key header) in its
	 * error body, which goes to the log. */
	for (i = 0; p->secret_values != NULL && p->secret_values[i] != NULL;
	    i++)
		notify_util_mask(why, p->secret_values[i]);
	post->done(post->arg, r, r == NOTIFY_ACK ? NULL : why);
	free(post);
}

int
notify_util_post(struct notify_util_poster *p, const char *body,
    const char * const *extra, notify_done_cb done, void *arg)
{
	const char		*headers[NOTIFY_UTIL_MAX_HEADERS + 3];
	struct http_request	 req;
	struct notify_util_post	*post;
	char			 err[256];
	size_t			 n = 0, i;
	int			 accept = 1;

	if (p->http == NULL)
		return -1;
	headers[n++] = "Content-Type: application/json";
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (n >= NOTIFY_UTIL_MAX_HEADERS + 1)
			return -1;
		if (strncasecmp(extra[i], "Accept:", 7) == 0)
			accept = 0;	/* the caller's wins */
		headers[n++] = extra[i];
	}
	if (accept)
		headers[n++] = "Accept: application/json";
	headers[n] = NULL;
	if ((post = calloc(1, sizeof(*post))) == NULL)
		return -1;
	post->poster = p;
	post->done = done;
	post->arg = arg;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = p->url;
	req.headers = headers;
	req.secret_headers = p->secret_headers;
	req.body = body;
	req.bodylen = strlen(body);
	req.timeout_ms = p->timeout_ms;
	/* Only the status counts: a 2xx with a long answer acknowledges. */
	req.max_body = NOTIFY_UTIL_MAX_BODY;
	req.discard_excess = 1;
	/* A URL that carries the secret (Slack's) never reaches a log. */
	req.secret_url = p->secret != NULL && p->secret[0] != '\0' &&
	    strstr(p->url, p->secret) != NULL;
	/* Inserted first: the callback may run before http_submit returns. */
	TAILQ_INSERT_TAIL(&p->posts, post, entry);
	post->req = http_submit(p->http, &req, notify_util_post_cb, post, err,
	    sizeof(err));
	if (post->req == NULL) {
		TAILQ_REMOVE(&p->posts, post, entry);
		free(post);
		return -1;
	}
	return 0;
}

void
notify_util_poster_cancel(struct notify_util_poster *p)
{
	struct notify_util_post	*post;

	while ((post = TAILQ_FIRST(&p->posts)) != NULL) {
		TAILQ_REMOVE(&p->posts, post, entry);
		if (post->req != NULL)
			http_cancel(post->req);
		post->done(post->arg, NOTIFY_RETRY, "stopped");
		free(post);
	}
}

size_t
notify_util_poster_inflight(const struct notify_util_poster *p)
{
	const struct notify_util_post	*post;
	size_t				 n = 0;

	TAILQ_FOREACH(post, &p->posts, entry)
		n++;
	return n;
}

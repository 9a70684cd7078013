/*
 * Helpers shared by the HTTP notifier modules: config validation with
 * FILE:LINE:COLUMN errors, secrets from files, times, and JSON POSTs that
 * stop() can take back.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "http.h"
#include "notify_util.h"
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

/* "a pagerduty notifier", "an alertmanager notifier". */
static const char *
notify_util_article(const char *type)
{
	return strchr("aeiou", type[0]) != NULL && type[0] != '\0' ? "an" :
	    "a";
}

static size_t
notify_util_distance(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b), i, j;
	size_t	 row[64], prev, tmp;

	/* Option names are short; longer ones are never "close". */
	if (la >= sizeof(row) / sizeof(row[0]) || lb >= 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

static const char *
notify_util_suggest(const char *word, const char * const *known)
{
	const char	*best = NULL;
	size_t		 d, bestd = SIZE_MAX, limit;
	int		 pass;

	limit = strlen(word) / 3;
	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	for (pass = 0; pass < 2; pass++) {
		const char * const *k = pass == 0 ? known : notify_util_common;

		for (; k != NULL && *k != NULL; k++) {
			d = notify_util_distance(word, *k);
			if (d < bestd) {
				bestd = d;
				best = *k;
			}
		}
	}
	return bestd <= limit ? best : NULL;
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
    const char * const *known, char *err, size_t errlen)
{
	char		 where[256];
	const char	*hint;
	size_t		 i;

	if (block == NULL || block->type != YNODE_MAP) {
		if (block != NULL)
			(void)snprintf(err, errlen, "%s: %s %s notifier must "
			    "be a mapping, not a %s",
			    ynode_where(block, where, sizeof(where)),
			    notify_util_article(type), type,
			    ynode_type_name(block->type));
		else
			(void)snprintf(err, errlen, "%s notifier: no config",
			    type);
		return -1;
	}
	for (i = 0; i < block->nitems; i++) {
		const struct ynode *k = block->keys[i];

		if (notify_util_listed(k->value, known) ||
		    notify_util_listed(k->value, notify_util_common))
			continue;
		hint = notify_util_suggest(k->value, known);
		if (hint != NULL)
			(void)snprintf(err, errlen, "%s: unknown option "
			    "\"%s\" for %s %s notifier (did you mean \"%s\"?)",
			    ynode_where(k, where, sizeof(where)), k->value,
			    notify_util_article(type), type, hint);
		else
			(void)snprintf(err, errlen, "%s: unknown option "
			    "\"%s\" for %s %s notifier",
			    ynode_where(k, where, sizeof(where)), k->value,
			    notify_util_article(type), type);
		return -1;
	}
	return 0;
}

int
notify_util_string(const struct ynode *block, const char *type,
    const char *key, int required, const char **out, char *err,
    size_t errlen)
{
	const struct ynode	*n;
	char			 where[256];

	*out = NULL;
	if ((n = ynode_get(block, key)) == NULL) {
		if (!required)
			return 0;
		(void)snprintf(err, errlen, "%s: %s %s notifier needs \"%s\"",
		    ynode_where(block, where, sizeof(where)),
		    notify_util_article(type), type, key);
		return -1;
	}
	if (n->type != YNODE_SCALAR) {
		(void)snprintf(err, errlen, "%s: %s: expected a string, not "
		    "a %s", ynode_where(n, where, sizeof(where)), key,
		    ynode_type_name(n->type));
		return -1;
	}
	if (ynode_is_null(n) || n->valuelen == 0) {
		(void)snprintf(err, errlen, "%s: %s: expected a string, not "
		    "an empty value", ynode_where(n, where, sizeof(where)),
		    key);
		return -1;
	}
	if (strlen(n->value) != n->valuelen) {
		(void)snprintf(err, errlen, "%s: %s: contains a NUL byte",
		    ynode_where(n, where, sizeof(where)), key);
		return -1;
	}
	*out = n->value;
	return 0;
}

int
notify_util_parse_duration(const char *s, long long *out_ms)
{
	long long	 total = 0, v, mul;
	const char	*p = s;
	char		*end;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno != 0 || end == p || v < 0)
			return -1;
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			mul = 1;
			p += 2;
		} else if (*p == 's') {
			mul = 1000;
			p++;
		} else if (*p == 'm') {
			mul = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			mul = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			mul = 86400 * 1000;
			p++;
		} else
			return -1;
		/* A year is plenty for any setting here. */
		if (v > 366LL * 86400 * 1000 / mul)
			return -1;
		total += v * mul;
		if (total > 366LL * 86400 * 1000)
			return -1;
	}
	*out_ms = total;
	return 0;
}

static void
notify_util_fmt_ms(long long ms, char *buf, size_t len)
{
	if (ms % 3600000 == 0 && ms != 0)
		(void)snprintf(buf, len, "%lldh", ms / 3600000);
	else if (ms % 60000 == 0 && ms != 0)
		(void)snprintf(buf, len, "%lldm", ms / 60000);
	else if (ms % 1000 == 0)
		(void)snprintf(buf, len, "%llds", ms / 1000);
	else
		(void)snprintf(buf, len, "%lldms", ms);
}

int
notify_util_duration(const struct ynode *block, const char *type,
    const char *key, long long def_ms, long long min_ms, long long max_ms,
    long long *out_ms, char *err, size_t errlen)
{
	const struct ynode	*n;
	const char		*s;
	char			 where[256], lo[32], hi[32];
	long long		 v;

	if (notify_util_string(block, type, key, 0, &s, err, errlen) == -1)
		return -1;
	if (s == NULL) {
		*out_ms = def_ms;
		return 0;
	}
	n = ynode_get(block, key);
	if (notify_util_parse_duration(s, &v) == -1) {
		(void)snprintf(err, errlen, "%s: %s: \"%.64s\" is not a "
		    "duration (like 500ms, 30s, 5m, 1h)",
		    ynode_where(n, where, sizeof(where)), key, s);
		return -1;
	}
	if (v < min_ms || v > max_ms) {
		notify_util_fmt_ms(min_ms, lo, sizeof(lo));
		notify_util_fmt_ms(max_ms, hi, sizeof(hi));
		(void)snprintf(err, errlen, "%s: %s: %s is out of range "
		    "(%s to %s)", ynode_where(n, where, sizeof(where)), key, s,
		    lo, hi);
		return -1;
	}
	*out_ms = v;
	return 0;
}

int
notify_util_check_url(const struct ynode *block, const char *key,
    const char *url, int secret, char *err, size_t errlen)
{
	const struct ynode	*n = ynode_get(block, key);
	char			 where[256], e[512];

	/* A URL that is itself the credential must not cross a network in
	 * clear text, nor be echoed. */
	if (endpoint_url_parse(url, secret ? ENDPOINT_SECRET |
	    ENDPOINT_HTTP_LOOPBACK : 0, NULL, e, sizeof(e)) == 0)
		return 0;
	(void)snprintf(err, errlen, "%s: %s: %s%s",
	    ynode_where(n != NULL ? n : block, where, sizeof(where)), key, e,
	    secret && strncmp(e, "plain http", 10) == 0 ? " for a secret URL; "
	    "use https" : "");
	return -1;
}

int
notify_util_read_secret(const struct ynode *block, const char *key,
    char **out, char *err, size_t errlen)
{
	const struct ynode	*n = ynode_get(block, key);
	const char		*name, *dir;
	char			 where[256], path[PATH_MAX], *buf = NULL;
	struct stat		 st;
	ssize_t			 r;
	size_t			 len = 0, i;
	int			 fd = -1;

	*out = NULL;
	if (n == NULL || n->type != YNODE_SCALAR || n->value == NULL) {
		(void)snprintf(err, errlen, "%s: %s: expected a file name",
		    ynode_where(n != NULL ? n : block, where, sizeof(where)),
		    key);
		return -1;
	}
	ynode_where(n, where, sizeof(where));
	name = n->value;
	if (name[0] == '/') {
		if ((size_t)snprintf(path, sizeof(path), "%s", name) >=
		    sizeof(path))
			goto toolong;
	} else {
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || *dir == '\0') {
			(void)snprintf(err, errlen, "%s: %s: \"%s\" is a "
			    "relative name but $CREDENTIALS_DIRECTORY is not "
			    "set (use an absolute path or LoadCredential=)",
			    where, key, name);
			return -1;
		}
		if (strstr(name, "..") != NULL) {
			(void)snprintf(err, errlen, "%s: %s: a credential "
			    "name may not contain \"..\"", where, key);
			return -1;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		    sizeof(path))
			goto toolong;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		(void)snprintf(err, errlen, "%s: %s: %s: %s", where, key, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		(void)snprintf(err, errlen, "%s: %s: %s: %s", where, key, path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)snprintf(err, errlen, "%s: %s: %s is not a regular file",
		    where, key, path);
		goto fail;
	}
	/* A secret others can read is no secret; one they can write lets
	 * them redirect our alerts. */
	if (st.st_mode & (S_IRWXO | S_IWGRP)) {
		(void)snprintf(err, errlen, "%s: %s: %s has mode %04o: other "
		    "users may %s it (chmod o-rwx,g-w)", where, key, path,
		    (unsigned int)(st.st_mode & 07777),
		    (st.st_mode & (S_IWOTH | S_IWGRP)) ? "change" : "read");
		goto fail;
	}
	if (st.st_size > NOTIFY_UTIL_SECRET_MAX) {
		(void)snprintf(err, errlen, "%s: %s: %s is larger than %d "
		    "bytes", where, key, path, NOTIFY_UTIL_SECRET_MAX);
		goto fail;
	}
	if ((buf = calloc(1, NOTIFY_UTIL_SECRET_MAX + 2)) == NULL) {
		(void)snprintf(err, errlen, "%s: %s: out of memory", where,
		    key);
		goto fail;
	}
	while (len <= NOTIFY_UTIL_SECRET_MAX) {
		r = read(fd, buf + len, NOTIFY_UTIL_SECRET_MAX + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			(void)snprintf(err, errlen, "%s: %s: %s: %s", where,
			    key, path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > NOTIFY_UTIL_SECRET_MAX) {
		(void)snprintf(err, errlen, "%s: %s: %s is larger than %d "
		    "bytes", where, key, path, NOTIFY_UTIL_SECRET_MAX);
		goto fail;
	}
	close(fd);
	fd = -1;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	if (len == 0) {
		(void)snprintf(err, errlen, "%s: %s: %s is empty", where, key,
		    path);
		goto fail;
	}
	for (i = 0; i < len; i++) {
		if (!isgraph((unsigned char)buf[i])) {
			(void)snprintf(err, errlen, "%s: %s: %s must hold one "
			    "line of printable ASCII without spaces", where,
			    key, path);
			goto fail;
		}
	}
	*out = buf;
	return 0;

toolong:
	(void)snprintf(err, errlen, "%s: %s: the path is too long", where,
	    key);
	return -1;
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
	else
		r = NOTIFY_RETRY;
	/* Bodies come from the network: keep a short, printable start. */
	for (i = 0; res->body != NULL && i < res->bodylen &&
	    n < sizeof(snippet) - 1; i++) {
		unsigned char c = (unsigned char)res->body[i];

		snippet[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	snippet[n] = '\0';
	if (n > 0)
		(void)snprintf(why, whylen, "HTTP %ld: %s", res->status,
		    snippet);
	else
		(void)snprintf(why, whylen, "HTTP %ld", res->status);
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
	TAILQ_INIT(&p->posts);
}

static void
notify_util_post_cb(const struct http_response *res, void *arg)
{
	struct notify_util_post		*post = arg;
	struct notify_util_poster	*p = post->poster;
	enum notify_result		 r;
	char				 why[256];

	TAILQ_REMOVE(&p->posts, post, entry);
	r = notify_util_classify(res, p->secret, why, sizeof(why));
	post->done(post->arg, r, r == NOTIFY_ACK ? NULL : why);
	free(post);
}

int
notify_util_post(struct notify_util_poster *p, const char *body,
    notify_done_cb done, void *arg)
{
	static const char * const headers[] = {
		"Content-Type: application/json",
		"Accept: application/json",
		NULL
	};
	struct http_request	 req;
	struct notify_util_post	*post;
	char			 err[256];

	if (p->http == NULL)
		return -1;
	if ((post = calloc(1, sizeof(*post))) == NULL)
		return -1;
	post->poster = p;
	post->done = done;
	post->arg = arg;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = p->url;
	req.headers = headers;
	req.body = body;
	req.bodylen = strlen(body);
	req.timeout_ms = p->timeout_ms;
	req.max_body = 64 * 1024;
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

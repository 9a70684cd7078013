/*
 * What the notifier types share, the one helper family: validating their
 * config block into the configuration's error list (unknown options with a
 * suggestion, strings, durations, URLs), reading a secret from a file,
 * formatting times, and the one HTTP poster: a JSON body POSTed through a
 * struct http, the outcome classified the same way for every type, the
 * deliveries in flight remembered so that stop() can hand them back for a
 * retry.
 */
#ifndef KEYHEALTHD_NOTIFY_UTIL_H
#define KEYHEALTHD_NOTIFY_UTIL_H

#include <stddef.h>
#include <sys/queue.h>
#include <time.h>

#include "notify.h"

struct http;
struct http_req;
struct http_response;
struct ynode;

/* Secrets read from files are short: routing keys, webhook URLs. */
#define NOTIFY_UTIL_SECRET_MAX	4096

/*
 * Every helper reports what is wrong through nc (the configuration's error
 * list, see struct notify_conf) about the offending node, and returns -1.
 */
/* Reports the formatted message about node at; returns -1. */
int	notify_util_error(struct notify_conf *nc, const struct ynode *at,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Checks that block is a mapping whose keys are all either the common
 * notifier keys (type, name, min_severity, checks, exclude_checks, and
 * path for a module) or one of known (NULL-terminated; may be NULL).
 * Every unknown key is reported at its position, with the option that was
 * probably meant when one is close.  type names the notifier type in
 * messages.
 */
int	notify_util_check_keys(const struct ynode *block, const char *type,
	    const char * const *known, struct notify_conf *nc);

/* The word of known (NULL-terminated) that word is probably a typo of, or
 * NULL when none is close. */
const char *notify_util_suggest(const char *word, const char * const *known);

/*
 * The string value of option key in block: *out points into block (NULL
 * when absent and !required).  A mapping, a sequence, a null or an empty
 * value is an error; so is a missing required option or a NUL byte.
 */
int	notify_util_string(const struct ynode *block, const char *type,
	    const char *key, int required, const char **out,
	    struct notify_conf *nc);

/*
 * Option key as a duration in lib/duration's grammar ("500ms", "30s",
 * "5m", "1h30m"), in milliseconds, within [min_ms, max_ms]; def_ms when
 * absent.
 */
int	notify_util_duration(const struct ynode *block, const char *type,
	    const char *key, long long def_ms, long long min_ms,
	    long long max_ms, long long *out_ms, struct notify_conf *nc);

/* The "timeout" option of every HTTP notifier (one request, whole): as
 * notify_util_duration() with the one default and range they share. */
#define NOTIFY_UTIL_HTTP_TIMEOUT	10000		/* 10s */
#define NOTIFY_UTIL_HTTP_TIMEOUT_MIN	100
#define NOTIFY_UTIL_HTTP_TIMEOUT_MAX	300000		/* 5m */
int	notify_util_http_timeout(const struct ynode *block, const char *type,
	    long long *out_ms, struct notify_conf *nc);

/*
 * Checks option key (already read into url) with endpoint_url_parse(), the
 * parse `run` uses too.  When secret is set the URL itself never appears
 * in the message (a Slack webhook URL is a credential) and plain http is
 * refused unless to loopback.
 */
int	notify_util_check_url(const struct ynode *block, const char *key,
	    const char *url, int secret, struct notify_conf *nc);

/*
 * Reads a secret from the file named by option key: an absolute path, or a
 * name relative to $CREDENTIALS_DIRECTORY (systemd's LoadCredential=).
 * The file must be a regular file that other users can neither read nor
 * write and that its group cannot write; trailing white space is removed;
 * the rest must be one non-empty line without NUL or control characters,
 * at most NOTIFY_UTIL_SECRET_MAX bytes.  The content never appears in a
 * message.  *out is NULL when the option is absent and !required; else a
 * new string the caller frees with notify_util_secret_free(), its length
 * in *outlen (may be NULL).
 */
int	notify_util_read_secret(const struct ynode *block, const char *key,
	    int required, char **out, size_t *outlen, struct notify_conf *nc);
/* Overwrites and frees a secret; NULL is fine. */
void	notify_util_secret_free(char *secret);

/* t as "2026-11-28T21:44:10Z" into buf (at least 21 bytes). */
const char *notify_util_rfc3339(time_t t, char *buf, size_t len);

/*
 * Cuts s to at most max bytes without splitting a UTF-8 sequence; when it
 * cuts, the last bytes become "..." so the reader sees it was cut.
 * Returns a new string (caller frees) or NULL on allocation failure.
 */
char	*notify_util_truncate(const char *s, size_t max);

/*
 * The outcome of one HTTP delivery: any 2xx acknowledges (whatever its
 * body, also one over the cap); 4xx other than 408 and 429 will never
 * work; the rest (transport errors, 408, 429, 5xx, 1xx, 3xx) is retried.
 * A 3xx is retried rather than dropped: redirects are not followed (a
 * signed alert is not re-sent to an address nobody configured), and a
 * temporary redirect must not lose a critical alert; its why says so.
 * why gets "HTTP 400: <start of body>" or the transport error; every
 * occurrence of secret (may be NULL) in it is masked.
 */
enum notify_result notify_util_classify(const struct http_response *res,
	    const char *secret, char *why, size_t whylen);

/* Deliveries in flight of one notifier. */
struct notify_util_post;
TAILQ_HEAD(notify_util_posts, notify_util_post);

struct notify_util_poster {
	struct http		*http;
	const char		*url;		/* not copied */
	const char		*secret;	/* masked in why; not copied */
	long			 timeout_ms;
	/* Header names whose values never reach a log (a webhook's
	 * configured headers); NULL-terminated, not copied, may be NULL. */
	const char * const	*secret_headers;
	/* Strings masked in every outcome message (those headers' values,
	 * which a receiver may echo); NULL-terminated, not copied, may be
	 * NULL. */
	const char * const	*secret_values;
	struct notify_util_posts posts;
};

void	notify_util_poster_init(struct notify_util_poster *p,
	    struct http *http, const char *url, const char *secret,
	    long timeout_ms);
/*
 * POSTs body (JSON, Content-Type application/json) to p->url with the
 * extra headers ("Name: value", NULL-terminated, may be NULL).  At most
 * NOTIFY_UTIL_MAX_BODY bytes of the answer are read, the rest discarded.
 * done runs exactly once with the classified outcome, or with NOTIFY_RETRY
 * "stopped" from notify_util_poster_cancel().  Returns -1 if nothing was
 * started (done does not run).  body and headers are copied.
 */
#define NOTIFY_UTIL_MAX_BODY	(64 * 1024)
#define NOTIFY_UTIL_MAX_HEADERS	40	/* extra ones */
int	notify_util_post(struct notify_util_poster *p, const char *body,
	    const char * const *headers, notify_done_cb done, void *arg);
/* Cancels every delivery in flight; each done runs with NOTIFY_RETRY. */
void	notify_util_poster_cancel(struct notify_util_poster *p);
/* Deliveries in flight. */
size_t	notify_util_poster_inflight(const struct notify_util_poster *p);

#endif

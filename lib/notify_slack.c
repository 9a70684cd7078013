/*
 * Slack through an incoming webhook.  The webhook URL is the credential
 * (whoever has it can post to the channel), so it is best read from a file
 * (url_file), and it never appears in a log or an error, even when given
 * inline (url).
 *
 *	- type: slack
 *	  url_file: slack-webhook		# or url: https://hooks.slack.com/...
 *	  timeout: 10s
 *
 * The message has a plain "text" (what notifications and old clients
 * show) and Block Kit "blocks": a header, the summary, the key's fields,
 * its ARN and a context line with the details.  Everything that comes
 * from the event is escaped for mrkdwn (&, <, >) so a key name cannot
 * ping @channel or forge a link, and cut to Slack's block limits.  Slack
 * answers 200 "ok"; its errors are 4xx (invalid_payload, no_team,
 * channel_is_archived: PERMANENT) or 429/5xx (RETRY).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"
#include "notify_payloads.h"
#include "notify_util.h"
#include "ynode.h"

#define SLACK_TYPE		"slack"
/* Block Kit limits: header text 150, section text 3000, field 2000,
 * context element 3000. */
#define SLACK_HEADER_MAX	150
#define SLACK_SECTION_MAX	3000
#define SLACK_FIELD_MAX		2000
#define SLACK_CONTEXT_MAX	3000
#define SLACK_FALLBACK_MAX	3000

struct slack {
	char				*url;		/* a secret */
	char				*host;
	char				*source;
	long long			 timeout_ms;
	int				 started;
	struct notify_util_poster	 poster;
};

static const char * const slack_options[] = {
	"url", "url_file", "timeout", NULL
};

/* mrkdwn's three control characters; everything else is literal. */
static char *
slack_escape(const char *s, size_t max)
{
	char	*buf, *out;
	size_t	 n = 0, cap;

	if (s == NULL)
		s = "";
	cap = strlen(s) * 5 + 1;
	if ((buf = malloc(cap)) == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		const char *rep = NULL;

		if (*s == '&')
			rep = "&amp;";
		else if (*s == '<')
			rep = "&lt;";
		else if (*s == '>')
			rep = "&gt;";
		if (rep != NULL) {
			memcpy(buf + n, rep, strlen(rep));
			n += strlen(rep);
		} else if ((unsigned char)*s < 0x20 && *s != '\n')
			buf[n++] = ' ';
		else
			buf[n++] = *s;
	}
	buf[n] = '\0';
	out = notify_util_truncate(buf, max);
	free(buf);
	return out;
}

static const char *
slack_emoji(const struct alert_event *ev)
{
	if (ev->status != ALERT_FIRING)
		return ":white_check_mark:";
	switch (ev->severity) {
	case SEV_CRITICAL:
		return ":red_circle:";
	case SEV_WARNING:
		return ":warning:";
	case SEV_UNKNOWN:
		return ":grey_question:";
	default:
		return ":information_source:";
	}
}

static int
slack_text_obj(json_t *parent, const char *key, const char *type,
    const char *text)
{
	json_t	*o;

	if ((o = json_pack("{s:s, s:s}", "type", type, "text", text)) == NULL)
		return -1;
	if (strcmp(type, "plain_text") == 0 &&
	    json_object_set_new(o, "emoji", json_true()) == -1) {
		json_decref(o);
		return -1;
	}
	return json_object_set_new(parent, key, o);
}

static int
slack_block_text(json_t *blocks, const char *type, const char *ttype,
    const char *text)
{
	json_t	*b;

	if ((b = json_pack("{s:s}", "type", type)) == NULL)
		return -1;
	if (slack_text_obj(b, "text", ttype, text) == -1) {
		json_decref(b);
		return -1;
	}
	return json_array_append_new(blocks, b);
}

/* A "*Label*\nvalue" field, the value escaped; skipped when empty. */
static int
slack_field(json_t *fields, const char *label, const char *value, int code)
{
	char	*esc, *text = NULL, *cut;
	int	 rc;

	if (value == NULL || *value == '\0')
		return 0;
	if ((esc = slack_escape(value, SLACK_FIELD_MAX - 64)) == NULL)
		return -1;
	rc = asprintf(&text, code ? "*%s*\n`%s`" : "*%s*\n%s", label, esc);
	free(esc);
	if (rc == -1)
		return -1;
	cut = notify_util_truncate(text, SLACK_FIELD_MAX);
	free(text);
	if (cut == NULL)
		return -1;
	rc = json_array_append_new(fields, json_pack("{s:s, s:s}", "type",
	    "mrkdwn", "text", cut));
	free(cut);
	return rc;
}

/* "name=value, name=value" from the details object. */
static char *
slack_details_line(const json_t *details)
{
	char		*line = NULL, *v, *next;
	const char	*k;
	json_t		*val;

	if (details == NULL || !json_is_object(details) ||
	    json_object_size(details) == 0)
		return NULL;
	if ((line = strdup("")) == NULL)
		return NULL;
	json_object_foreach((json_t *)(uintptr_t)details, k, val) {
		if (json_is_string(val))
			v = strdup(json_string_value(val));
		else
			v = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY |
			    JSON_SORT_KEYS);
		if (v == NULL)
			break;
		if (asprintf(&next, "%s%s%s=%s", line, *line ? ", " : "", k,
		    v) == -1) {
			free(v);
			break;
		}
		free(v);
		free(line);
		line = next;
		/* Enough for a context line; the rest would be cut anyway. */
		if (strlen(line) > SLACK_CONTEXT_MAX)
			break;
	}
	return line;
}

json_t *
notify_slack_message(const struct alert_event *ev, const char *host,
    const char *source)
{
	json_t		*msg = NULL, *blocks = NULL, *fields = NULL, *b, *els;
	char		*header = NULL, *summary = NULL, *fallback = NULL;
	char		*details = NULL, *ctx_raw = NULL, *ctx = NULL;
	char		*name = NULL, *tmp = NULL, started[32], ended[32];
	const char	*status = ev->status == ALERT_FIRING ? "FIRING" :
			    "RESOLVED";
	const char	*keyname = ev->key_name != NULL && *ev->key_name ?
			    ev->key_name : ev->key_arn;
	int		 rc = 0;

	if ((msg = json_object()) == NULL || (blocks = json_array()) == NULL)
		goto fail;

	/* Plain text: not mrkdwn-escaped in the header block, which
	 * Slack renders literally. */
	if (asprintf(&tmp, "%s %s %s: %s on %s", slack_emoji(ev), status,
	    severity_name(ev->severity), ev->check,
	    keyname != NULL ? keyname : "?") == -1) {
		tmp = NULL;
		goto fail;
	}
	if ((header = notify_util_truncate(tmp, SLACK_HEADER_MAX)) == NULL)
		goto fail;
	free(tmp);
	tmp = NULL;
	if ((summary = slack_escape(ev->summary != NULL ? ev->summary :
	    ev->check, SLACK_SECTION_MAX)) == NULL)
		goto fail;
	if ((name = slack_escape(keyname, 256)) == NULL)
		goto fail;
	if (asprintf(&tmp, "[%s] %s %s on %s: %s", status,
	    severity_name(ev->severity), ev->check, name, summary) == -1) {
		tmp = NULL;
		goto fail;
	}
	if ((fallback = notify_util_truncate(tmp, SLACK_FALLBACK_MAX)) ==
	    NULL)
		goto fail;
	rc |= json_object_set_new(msg, "text", json_string(fallback));

	rc |= slack_block_text(blocks, "header", "plain_text", header);
	rc |= slack_block_text(blocks, "section", "mrkdwn", summary);

	if ((fields = json_array()) == NULL)
		goto fail;
	rc |= slack_field(fields, "Key", keyname, 0);
	rc |= slack_field(fields, "Severity", severity_name(ev->severity), 0);
	rc |= slack_field(fields, "Status", ev->status == ALERT_FIRING ?
	    "firing" : "resolved", 0);
	rc |= slack_field(fields, "Check", ev->check, 1);
	rc |= slack_field(fields, "Region", ev->region, 0);
	rc |= slack_field(fields, "Account", ev->account, 0);
	if ((b = json_pack("{s:s, s:o}", "type", "section", "fields",
	    fields)) == NULL) {
		fields = NULL;
		goto fail;
	}
	fields = NULL;
	rc |= json_array_append_new(blocks, b);

	free(tmp);
	tmp = NULL;
	if (ev->key_arn != NULL && *ev->key_arn != '\0') {
		char *arn = slack_escape(ev->key_arn, 512);

		if (arn == NULL || asprintf(&tmp, "*Key ARN*\n`%s`", arn) ==
		    -1) {
			free(arn);
			tmp = NULL;
			goto fail;
		}
		free(arn);
		rc |= slack_block_text(blocks, "section", "mrkdwn", tmp);
		free(tmp);
		tmp = NULL;
	}

	details = slack_details_line(ev->details);
	notify_util_rfc3339(ev->started_at, started, sizeof(started));
	if (ev->status != ALERT_FIRING)
		notify_util_rfc3339(ev->ended_at != 0 ? ev->ended_at :
		    time(NULL), ended, sizeof(ended));
	if (asprintf(&ctx_raw, "%s%s%s since %s%s%s%s%s", details != NULL ?
	    "details: " : "", details != NULL ? details : "",
	    details != NULL ? " | " : "", started,
	    ev->status != ALERT_FIRING ? ", resolved " : "",
	    ev->status != ALERT_FIRING ? ended : "",
	    host != NULL ? " | " : "", host != NULL ? host : "") == -1) {
		ctx_raw = NULL;
		goto fail;
	}
	if (source != NULL) {
		if (asprintf(&tmp, "%s (%s)", ctx_raw, source) == -1) {
			tmp = NULL;
			goto fail;
		}
		free(ctx_raw);
		ctx_raw = tmp;
		tmp = NULL;
	}
	if ((ctx = slack_escape(ctx_raw, SLACK_CONTEXT_MAX)) == NULL)
		goto fail;
	if ((els = json_pack("[{s:s, s:s}]", "type", "mrkdwn", "text",
	    ctx)) == NULL)
		goto fail;
	rc |= json_array_append_new(blocks, json_pack("{s:s, s:o}", "type",
	    "context", "elements", els));

	rc |= json_object_set_new(msg, "blocks", blocks);
	blocks = NULL;
	free(header);
	free(summary);
	free(fallback);
	free(details);
	free(ctx_raw);
	free(ctx);
	free(name);
	if (rc != 0) {
		json_decref(msg);
		return NULL;
	}
	return msg;
fail:
	free(tmp);
	free(header);
	free(summary);
	free(fallback);
	free(details);
	free(ctx_raw);
	free(ctx);
	free(name);
	json_decref(fields);
	json_decref(blocks);
	json_decref(msg);
	return NULL;
}

static void
slack_free(void *arg)
{
	struct slack	*sl = arg;

	if (sl == NULL)
		return;
	notify_util_poster_cancel(&sl->poster);
	notify_util_secret_free(sl->url);
	free(sl->host);
	free(sl->source);
	free(sl);
}

static int
slack_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	struct slack	*sl;
	const char	*url, *file;
	int		 rc = 0;

	*state = NULL;
	if (notify_util_check_keys(block, SLACK_TYPE, slack_options, nc) == -1)
		rc = -1;
	if ((sl = calloc(1, sizeof(*sl))) == NULL)
		return notify_util_error(nc, block, "out of memory");
	notify_util_poster_init(&sl->poster, NULL, NULL, NULL, 0);
	if (notify_util_string(block, SLACK_TYPE, "url", 0, &url, nc) == -1 ||
	    notify_util_string(block, SLACK_TYPE, "url_file", 0, &file,
	    nc) == -1)
		rc = -1;
	else if ((url == NULL) == (file == NULL))
		rc = notify_util_error(nc, url != NULL ? ynode_get(block,
		    "url") : block, "a slack notifier needs exactly one of "
		    "\"url_file\" and \"url\"");
	else if (file != NULL) {
		if (notify_util_read_secret(block, "url_file", 1, &sl->url,
		    NULL, nc) == -1 ||
		    notify_util_check_url(block, "url_file", sl->url, 1,
		    nc) == -1)
			rc = -1;
	} else if (notify_util_check_url(block, "url", url, 1, nc) == -1)
		rc = -1;
	else if ((sl->url = strdup(url)) == NULL)
		rc = notify_util_error(nc, block, "out of memory");
	if (notify_util_http_timeout(block, SLACK_TYPE, &sl->timeout_ms,
	    nc) == -1)
		rc = -1;
	if (rc == -1) {
		slack_free(sl);
		return -1;
	}
	*state = sl;
	return 0;
}

static int
slack_start(void *arg, const struct notify_env *env, char *err,
    size_t errlen)
{
	struct slack	*sl = arg;

	if (env == NULL || env->http == NULL) {
		(void)snprintf(err, errlen, "slack notifier: no HTTP client");
		return -1;
	}
	free(sl->host);
	free(sl->source);
	sl->host = sl->source = NULL;
	if ((env->hostname != NULL &&
	    (sl->host = strdup(env->hostname)) == NULL) ||
	    (env->source != NULL &&
	    (sl->source = strdup(env->source)) == NULL)) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The URL is masked in every outcome message. */
	notify_util_poster_init(&sl->poster, env->http, sl->url, sl->url,
	    (long)sl->timeout_ms);
	sl->started = 1;
	return 0;
}

static int
slack_send(void *arg, const struct alert_event *ev, notify_done_cb done,
    void *done_arg)
{
	struct slack	*sl = arg;
	json_t		*msg;
	char		*text;
	int		 rc;

	if (!sl->started)
		return -1;
	if ((msg = notify_slack_message(ev, sl->host, sl->source)) == NULL)
		return -1;
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (text == NULL)
		return -1;
	rc = notify_util_post(&sl->poster, text, NULL, done, done_arg);
	free(text);
	return rc;
}

static void
slack_stop(void *arg)
{
	struct slack	*sl = arg;

	notify_util_poster_cancel(&sl->poster);
	sl->started = 0;
}

const struct notify_ops notify_slack_ops = {
	.type = SLACK_TYPE,
	.configure = slack_configure,
	.start = slack_start,
	.send = slack_send,
	.stop = slack_stop,
	.free = slack_free,
};

/*
 * PagerDuty through the Events API v2: a firing alert is a "trigger", a
 * resolved one a "resolve", both with dedup_key = the alert's fingerprint
 * so that re-notifications land on the same PagerDuty alert and the
 * resolve closes it.  The routing key is a credential: it is read from a
 * file at configure time and never appears in a log or an error.
 *
 *	- type: pagerduty
 *	  routing_key_file: pagerduty-key	# required; absolute, or under
 *						# $CREDENTIALS_DIRECTORY
 *	  url: https://events.pagerduty.com/v2/enqueue
 *	  source: host.example.com		# payload.source; default: host
 *	  timeout: 10s
 *
 * PagerDuty answers 202 when it queued the event (ACK), 400 for an event
 * it will never take (PERMANENT), 429 and 5xx when it wants it later
 * (RETRY).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "notify.h"
#include "notify_payloads.h"
#include "notify_util.h"
#include "ynode.h"

#define PAGERDUTY_TYPE		"pagerduty"
#define PAGERDUTY_URL		"https://events.pagerduty.com/v2/enqueue"

struct pagerduty {
	char				*url;
	char				*routing_key;
	char				*source;	/* NULL: the host */
	char				*client;
	long long			 timeout_ms;
	int				 started;
	struct notify_util_poster	 poster;
};

static const char * const pagerduty_options[] = {
	"url", "routing_key_file", "source", "timeout", NULL
};

const char *
notify_pagerduty_severity(enum severity sev)
{
	switch (sev) {
	case SEV_CRITICAL:
		return "critical";
	case SEV_WARNING:
		return "warning";
	case SEV_INFO:
	case SEV_OK:
		return "info";
	case SEV_UNKNOWN:
	default:
		/* Not knowing whether the key is healthy is an error on our
		 * side, not a statement about the key. */
		return "error";
	}
}

static int
pagerduty_set(json_t *obj, const char *key, const char *value)
{
	if (value == NULL || *value == '\0')
		return 0;
	return json_object_set_new(obj, key, json_string(value));
}

json_t *
notify_pagerduty_payload(const struct alert_event *ev,
    const char *routing_key, const char *source, const char *client)
{
	json_t		*root = NULL, *payload = NULL, *custom = NULL;
	char		*summary = NULL, ts[32], group[128];
	int		 rc = 0;

	if ((root = json_object()) == NULL)
		goto fail;
	rc |= json_object_set_new(root, "routing_key",
	    json_string(routing_key));
	rc |= json_object_set_new(root, "event_action",
	    json_string(ev->status == ALERT_FIRING ? "trigger" : "resolve"));
	rc |= json_object_set_new(root, "dedup_key",
	    json_string(ev->fingerprint));
	if (client != NULL)
		rc |= json_object_set_new(root, "client", json_string(client));

	/*
	 * PagerDuty only reads payload on a trigger; a resolve carries just
	 * the routing and dedup keys, the documented shape.
	 */
	if (ev->status != ALERT_FIRING)
		goto done;

	if ((summary = notify_util_truncate(ev->summary != NULL &&
	    *ev->summary != '\0' ? ev->summary : ev->check,
	    NOTIFY_PAGERDUTY_SUMMARY_MAX)) == NULL)
		goto fail;
	if ((payload = json_object()) == NULL)
		goto fail;
	rc |= json_object_set_new(payload, "summary", json_string(summary));
	rc |= json_object_set_new(payload, "source",
	    json_string(source != NULL && *source != '\0' ? source :
	    "keyhealthd"));
	rc |= json_object_set_new(payload, "severity",
	    json_string(notify_pagerduty_severity(ev->severity)));
	rc |= json_object_set_new(payload, "timestamp", json_string(
	    notify_util_rfc3339(ev->started_at, ts, sizeof(ts))));
	rc |= pagerduty_set(payload, "component",
	    ev->key_name != NULL && *ev->key_name != '\0' ? ev->key_name :
	    ev->key_arn);
	if (ev->region != NULL && *ev->region != '\0' &&
	    ev->account != NULL && *ev->account != '\0')
		(void)snprintf(group, sizeof(group), "%s/%s", ev->region,
		    ev->account);
	else
		(void)snprintf(group, sizeof(group), "%s",
		    ev->region != NULL && *ev->region != '\0' ? ev->region :
		    ev->account != NULL ? ev->account : "");
	rc |= pagerduty_set(payload, "group", group);
	rc |= pagerduty_set(payload, "class", ev->check);

	if (ev->details != NULL && json_is_object(ev->details))
		custom = json_deep_copy(ev->details);
	else
		custom = json_object();
	if (custom == NULL)
		goto fail;
	rc |= pagerduty_set(custom, "key_arn", ev->key_arn);
	rc |= pagerduty_set(custom, "key_name", ev->key_name);
	rc |= pagerduty_set(custom, "check", ev->check);
	rc |= pagerduty_set(custom, "keyhealthd_severity",
	    severity_name(ev->severity));
	rc |= pagerduty_set(custom, "fingerprint", ev->fingerprint);
	rc |= json_object_set_new(payload, "custom_details", custom);
	custom = NULL;
	rc |= json_object_set_new(root, "payload", payload);
	payload = NULL;
done:
	free(summary);
	if (rc != 0) {
		json_decref(root);
		return NULL;
	}
	return root;
fail:
	free(summary);
	json_decref(custom);
	json_decref(payload);
	json_decref(root);
	return NULL;
}

static void
pagerduty_free(void *arg)
{
	struct pagerduty	*pd = arg;

	if (pd == NULL)
		return;
	notify_util_poster_cancel(&pd->poster);
	free(pd->url);
	notify_util_secret_free(pd->routing_key);
	free(pd->source);
	free(pd->client);
	free(pd);
}

static int
pagerduty_configure(const struct ynode *block, void **state,
    struct notify_conf *nc)
{
	struct pagerduty	*pd;
	const char		*url, *source, *keyfile;
	int			 rc = 0;

	*state = NULL;
	if (notify_util_check_keys(block, PAGERDUTY_TYPE, pagerduty_options,
	    nc) == -1)
		rc = -1;
	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return notify_util_error(nc, block, "out of memory");
	notify_util_poster_init(&pd->poster, NULL, NULL, NULL, 0);
	if (notify_util_string(block, PAGERDUTY_TYPE, "url", 0, &url,
	    nc) == -1 || (url != NULL && notify_util_check_url(block, "url",
	    url, 0, nc) == -1))
		rc = -1;
	if (notify_util_string(block, PAGERDUTY_TYPE, "source", 0, &source,
	    nc) == -1)
		rc = -1;
	if (notify_util_http_timeout(block, PAGERDUTY_TYPE, &pd->timeout_ms,
	    nc) == -1)
		rc = -1;
	if (notify_util_string(block, PAGERDUTY_TYPE, "routing_key_file", 1,
	    &keyfile, nc) == -1 || notify_util_read_secret(block,
	    "routing_key_file", 1, &pd->routing_key, NULL, nc) == -1)
		rc = -1;
	if (rc == 0 && ((pd->url = strdup(url != NULL ? url :
	    PAGERDUTY_URL)) == NULL || (source != NULL &&
	    (pd->source = strdup(source)) == NULL)))
		rc = notify_util_error(nc, block, "out of memory");
	if (rc == -1) {
		pagerduty_free(pd);
		return -1;
	}
	*state = pd;
	return 0;
}

static int
pagerduty_start(void *arg, const struct notify_env *env, char *err,
    size_t errlen)
{
	struct pagerduty	*pd = arg;

	if (env == NULL || env->http == NULL) {
		(void)snprintf(err, errlen, "pagerduty notifier: no HTTP "
		    "client");
		return -1;
	}
	if (pd->source == NULL && env->hostname != NULL &&
	    (pd->source = strdup(env->hostname)) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(pd->client);
	pd->client = NULL;
	if (env->source != NULL && (pd->client = strdup(env->source)) ==
	    NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return -1;
	}
	notify_util_poster_init(&pd->poster, env->http, pd->url,
	    pd->routing_key, (long)pd->timeout_ms);
	pd->started = 1;
	return 0;
}

static int
pagerduty_send(void *arg, const struct alert_event *ev, notify_done_cb done,
    void *done_arg)
{
	struct pagerduty	*pd = arg;
	json_t			*body;
	char			*text;
	int			 rc;

	if (!pd->started)
		return -1;
	if ((body = notify_pagerduty_payload(ev, pd->routing_key, pd->source,
	    pd->client != NULL ? pd->client : "keyhealthd")) == NULL)
		return -1;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return -1;
	rc = notify_util_post(&pd->poster, text, NULL, done, done_arg);
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static void
pagerduty_stop(void *arg)
{
	struct pagerduty	*pd = arg;

	notify_util_poster_cancel(&pd->poster);
	pd->started = 0;
}

const struct notify_ops notify_pagerduty_ops = {
	.type = PAGERDUTY_TYPE,
	.configure = pagerduty_configure,
	.start = pagerduty_start,
	.send = pagerduty_send,
	.stop = pagerduty_stop,
	.free = pagerduty_free,
};

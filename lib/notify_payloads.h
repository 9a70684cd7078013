/*
 * The pure payload builders of the pagerduty, alertmanager and slack
 * notifiers, exposed for the unit tests.  Each lives in its notifier's
 * file (notify_pagerduty_payload() in lib/notify_pagerduty.c ...); the
 * daemon only reaches them through the ops structs.
 */
#ifndef KEYHEALTHD_NOTIFY_PAYLOADS_H
#define KEYHEALTHD_NOTIFY_PAYLOADS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "alert.h"

/* PagerDuty's limit on payload.summary, in bytes here (so also in
 * characters). */
#define NOTIFY_PAGERDUTY_SUMMARY_MAX	1024

/* PagerDuty's severity for ours: critical, warning and info map to
 * themselves, unknown (the key could not be evaluated) to "error". */
const char	*notify_pagerduty_severity(enum severity sev);

/*
 * The Events API v2 body for ev: a trigger for a firing, a resolve for a
 * resolved event (dedup_key = fingerprint in both).  source is
 * payload.source (the host); client is the sending tool
 * ("keyhealthd/VERSION"), may be NULL.  Returns a new reference or NULL.
 */
json_t		*notify_pagerduty_payload(const struct alert_event *ev,
		    const char *routing_key, const char *source,
		    const char *client);

/* "Keyhealthd" + the check id in CamelCase: key-pending-deletion ->
 * "KeyhealthdKeyPendingDeletion"; into buf. */
const char	*notify_alertmanager_alertname(const char *check, char *buf,
		    size_t len);

/*
 * One Alertmanager v2 postable alert for ev: labels alertname, check,
 * severity, key_arn, key_name, region, account (empty ones left out) and
 * the extra labels (an object of strings, may be NULL; never overriding
 * ours); annotations summary, description, fingerprint, host (may be
 * NULL); startsAt = started_at; endsAt = ends_at (0: left out);
 * generatorURL when generator_url is not NULL.  Returns a new reference or
 * NULL.
 */
json_t		*notify_alertmanager_alert(const struct alert_event *ev,
		    const json_t *extra_labels, const char *host,
		    const char *generator_url, time_t ends_at);

/*
 * The incoming-webhook message for ev: {"text": fallback, "blocks": [...]}
 * with a header (status, severity, check), the summary, fields (key,
 * severity, status, check, region, account), the key ARN and a context
 * line with the details, host and times.  Text from the event is escaped
 * for Slack's mrkdwn and cut to Slack's block limits.  host and source may
 * be NULL.  Returns a new reference or NULL.
 */
json_t		*notify_slack_message(const struct alert_event *ev,
		    const char *host, const char *source);

#endif

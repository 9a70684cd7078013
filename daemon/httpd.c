/*
 * The status endpoint (http.listen): /metrics in the Prometheus text
 * format, /healthz, /status.  libevent's evhttp on the daemon's loop;
 * GET only; no secret is ever part of what it serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "alert.h"
#include "catalog.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "statewriter.h"
#include "keyhealthd.h"

static const double httpd_bounds[KH_LATENCY_BUCKETS] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

/* A label value with \, " and newline escaped.  Runs of plain
 * characters go in one piece: a scrape of 10,000 keys made millions of
 * one-byte appends, on the loop. */
static void
httpd_label(struct evbuffer *b, const char *v)
{
	size_t	n;

	while (v != NULL && *v != '\0') {
		if ((n = strcspn(v, "\\\"\n")) > 0) {
			evbuffer_add(b, v, n);
			v += n;
			continue;
		}
		if (*v == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*v == '"')
			evbuffer_add(b, "\\\"", 2);
		else
			evbuffer_add(b, "\\n", 2);
		v++;
	}
}

static void
httpd_help(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
httpd_key_labels(struct evbuffer *b, const struct kh_key *k)
{
	evbuffer_add_printf(b, "key_arn=\"");
	httpd_label(b, k->ck->arn);
	evbuffer_add_printf(b, "\",key_name=\"");
	httpd_label(b, k->ck->name);
	evbuffer_add_printf(b, "\"");
}

void
metrics_render(struct kh *kh, struct evbuffer *b)
{
	size_t		 i, f, c;
	size_t		*counts, nchecks;
	int		 sev;
	uint64_t	 cum;
	const char	*code;
	json_t		*n;

	httpd_help(b, "keyhealthd_build_info", "gauge",
	    "Build information.");
	evbuffer_add_printf(b, "keyhealthd_build_info{version=\"%s\"} 1\n",
	    KEYHEALTHD_VERSION);
	httpd_help(b, "keyhealthd_start_time_seconds", "gauge",
	    "When the daemon started, seconds since the epoch.");
	evbuffer_add_printf(b, "keyhealthd_start_time_seconds %lld\n",
	    (long long)kh->stats.started);
	httpd_help(b, "keyhealthd_keys", "gauge", "Configured keys.");
	evbuffer_add_printf(b, "keyhealthd_keys %zu\n", kh->nkeys);

	httpd_help(b, "keyhealthd_key_status", "gauge",
	    "Worst severity of the key's findings: 0 ok, 1 info, 2 warning, "
	    "3 unknown, 4 critical.");
	for (i = 0; i < kh->nkeys; i++) {
		evbuffer_add_printf(b, "keyhealthd_key_status{");
		httpd_key_labels(b, kh->keys[i]);
		evbuffer_add_printf(b, "} %d\n",
		    (int)findings_worst(&kh->keys[i]->findings));
	}
	httpd_help(b, "keyhealthd_key_state", "gauge",
	    "The key's KMS KeyState (1 for the current one).");
	for (i = 0; i < kh->nkeys; i++) {
		const struct kh_key *k = kh->keys[i];
		const char *state = NULL;

		if (!k->have_snap)
			continue;
		if (k->snap.describe_err.cls == KMS_OK)
			state = k->snap.meta.state;
		else if (k->snap.describe_err.cls == KMS_ERR_NOT_FOUND)
			state = "NotFound";
		if (state == NULL)
			continue;
		evbuffer_add_printf(b, "keyhealthd_key_state{");
		httpd_key_labels(b, k);
		evbuffer_add_printf(b, ",state=\"");
		httpd_label(b, state);
		evbuffer_add_printf(b, "\"} 1\n");
	}
	httpd_help(b, "keyhealthd_key_finding", "gauge",
	    "A finding present on the key's last poll.");
	for (i = 0; i < kh->nkeys; i++)
		for (f = 0; f < kh->keys[i]->findings.n; f++) {
			const struct finding *fd = &kh->keys[i]->findings.v[f];

			evbuffer_add_printf(b, "keyhealthd_key_finding{");
			httpd_key_labels(b, kh->keys[i]);
			evbuffer_add_printf(b, ",check=\"%s\",severity=\"%s\"}"
			    " 1\n", fd->check, severity_name(fd->severity));
		}
	httpd_help(b, "keyhealthd_findings", "gauge",
	    "Keys with each finding, by check id and severity.");
	/* One pass over the keys, not one per check and severity. */
	nchecks = catalog_count();
	if ((counts = calloc(nchecks * (SEV_CRITICAL + 1),
	    sizeof(*counts))) != NULL) {
		for (i = 0; i < kh->nkeys; i++)
			for (f = 0; f < kh->keys[i]->findings.n; f++) {
				const struct finding *fd =
				    &kh->keys[i]->findings.v[f];
				const struct catalog_entry *ce =
				    catalog_find(fd->check);

				/* findings_get() gives the first of an id. */
				if (ce != NULL && findings_get(
				    &kh->keys[i]->findings, fd->check) == fd &&
				    fd->severity >= SEV_INFO &&
				    fd->severity <= SEV_CRITICAL)
					counts[(size_t)(ce - catalog_checks) *
					    (SEV_CRITICAL + 1) + fd->severity]++;
			}
		for (c = 0; c < nchecks; c++)
			for (sev = SEV_INFO; sev <= SEV_CRITICAL; sev++)
				if (counts[c * (SEV_CRITICAL + 1) + sev] > 0)
					evbuffer_add_printf(b,
					    "keyhealthd_findings{check=\"%s\","
					    "severity=\"%s\"} %zu\n",
					    catalog_checks[c].id,
					    severity_name(sev),
					    counts[c * (SEV_CRITICAL + 1) +
					    sev]);
		free(counts);
	}
	httpd_help(b, "keyhealthd_polls_total", "counter",
	    "Polls of the key.");
	for (i = 0; i < kh->nkeys; i++) {
		evbuffer_add_printf(b, "keyhealthd_polls_total{");
		httpd_key_labels(b, kh->keys[i]);
		evbuffer_add_printf(b, "} %llu\n",
		    (unsigned long long)kh->keys[i]->polls);
	}
	httpd_help(b, "keyhealthd_poll_failures_total", "counter",
	    "Polls in which KMS could not be asked about the key.");
	for (i = 0; i < kh->nkeys; i++) {
		evbuffer_add_printf(b, "keyhealthd_poll_failures_total{");
		httpd_key_labels(b, kh->keys[i]);
		evbuffer_add_printf(b, "} %llu\n",
		    (unsigned long long)kh->keys[i]->polls_failed);
	}
	httpd_help(b, "keyhealthd_last_successful_poll_timestamp_seconds",
	    "gauge", "When KMS last answered about the key.");
	for (i = 0; i < kh->nkeys; i++) {
		if (kh->keys[i]->last_success == 0)
			continue;
		evbuffer_add_printf(b,
		    "keyhealthd_last_successful_poll_timestamp_seconds{");
		httpd_key_labels(b, kh->keys[i]);
		evbuffer_add_printf(b, "} %lld\n",
		    (long long)kh->keys[i]->last_success);
	}
	httpd_help(b, "keyhealthd_kms_errors_total", "counter",
	    "KMS errors by error code (after retries).");
	if (kh->stats.kms_errors != NULL)
		json_object_foreach(kh->stats.kms_errors, code, n) {
			evbuffer_add_printf(b,
			    "keyhealthd_kms_errors_total{code=\"");
			httpd_label(b, code);
			evbuffer_add_printf(b, "\"} %lld\n",
			    (long long)json_integer_value(n));
		}
	httpd_help(b, "keyhealthd_poll_duration_seconds", "histogram",
	    "Time one poll of a key took, all requests and retries.");
	cum = 0;
	for (i = 0; i < KH_LATENCY_BUCKETS; i++) {
		cum += kh->stats.latency_bucket[i];
		evbuffer_add_printf(b, "keyhealthd_poll_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", httpd_bounds[i],
		    (unsigned long long)cum);
	}
	cum += kh->stats.latency_bucket[KH_LATENCY_BUCKETS];
	evbuffer_add_printf(b, "keyhealthd_poll_duration_seconds_bucket"
	    "{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	evbuffer_add_printf(b, "keyhealthd_poll_duration_seconds_sum %.6f\n",
	    kh->stats.latency_sum);
	evbuffer_add_printf(b, "keyhealthd_poll_duration_seconds_count %llu\n",
	    (unsigned long long)kh->stats.latency_count);

	httpd_help(b, "keyhealthd_loop_lag_seconds", "histogram",
	    "How late a timer due every 50 ms ran: time the event loop "
	    "was held.");
	cum = 0;
	for (i = 0; i < KH_LAG_BUCKETS; i++) {
		cum += kh->stats.lag_bucket[i];
		evbuffer_add_printf(b, "keyhealthd_loop_lag_seconds_bucket"
		    "{le=\"%g\"} %llu\n", kh_lag_bounds[i],
		    (unsigned long long)cum);
	}
	cum += kh->stats.lag_bucket[KH_LAG_BUCKETS];
	evbuffer_add_printf(b, "keyhealthd_loop_lag_seconds_bucket"
	    "{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	evbuffer_add_printf(b, "keyhealthd_loop_lag_seconds_sum %.6f\n",
	    kh->stats.lag_sum);
	evbuffer_add_printf(b, "keyhealthd_loop_lag_seconds_count %llu\n",
	    (unsigned long long)kh->stats.lag_count);
	httpd_help(b, "keyhealthd_loop_lag_max_seconds", "gauge",
	    "The longest loop lag since start.");
	evbuffer_add_printf(b, "keyhealthd_loop_lag_max_seconds %.6f\n",
	    kh->stats.lag_max);
	httpd_help(b, "keyhealthd_state_writes_pending", "gauge",
	    "State files queued for the writer thread, not yet on disk.");
	evbuffer_add_printf(b, "keyhealthd_state_writes_pending %zu\n",
	    kh->writer != NULL ? statewriter_pending(kh->writer) : 0);

	httpd_help(b, "keyhealthd_polls_running", "gauge",
	    "Polls started and not finished.");
	for (i = 0, cum = 0; i < kh->nendpoints; i++)
		cum += kh->endpoints[i]->polling;
	evbuffer_add_printf(b, "keyhealthd_polls_running %llu\n",
	    (unsigned long long)cum);
	httpd_help(b, "keyhealthd_polls_waiting", "gauge",
	    "Keys due whose polls wait for their endpoint (kms.max_inflight "
	    "polls running).");
	evbuffer_add_printf(b, "keyhealthd_polls_waiting %zu\n",
	    kh->nwaiting);

	httpd_help(b, "keyhealthd_alerts_firing", "gauge", "Alerts firing.");
	evbuffer_add_printf(b, "keyhealthd_alerts_firing %zu\n",
	    kh->alerts != NULL ? alert_table_firing(kh->alerts) : 0);
	httpd_help(b, "keyhealthd_notifier_delivered_total", "counter",
	    "Alerts a notifier acknowledged.");
	for (i = 0; i < kh->nnotifiers; i++) {
		struct outbox_stats st;

		if (kh->outboxes[i] == NULL)
			continue;
		outbox_stats(kh->outboxes[i], &st);
		evbuffer_add_printf(b, "keyhealthd_notifier_delivered_total"
		    "{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)st.delivered);
	}
	httpd_help(b, "keyhealthd_notifier_failures_total", "counter",
	    "Failed deliveries: transient (retried) and permanent (dropped).");
	for (i = 0; i < kh->nnotifiers; i++) {
		struct outbox_stats st;

		if (kh->outboxes[i] == NULL)
			continue;
		outbox_stats(kh->outboxes[i], &st);
		evbuffer_add_printf(b, "keyhealthd_notifier_failures_total"
		    "{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\",kind=\"transient\"} %llu\n",
		    (unsigned long long)st.retries);
		evbuffer_add_printf(b, "keyhealthd_notifier_failures_total"
		    "{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\",kind=\"permanent\"} %llu\n",
		    (unsigned long long)st.failed);
	}
	httpd_help(b, "keyhealthd_outbox_depth", "gauge",
	    "Alerts queued for a notifier, not yet acknowledged.");
	for (i = 0; i < kh->nnotifiers; i++) {
		if (kh->outboxes[i] == NULL)
			continue;
		evbuffer_add_printf(b, "keyhealthd_outbox_depth{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\"} %zu\n",
		    outbox_depth(kh->outboxes[i]));
	}
	httpd_help(b, "keyhealthd_notifier_dropped_total", "counter",
	    "Info alerts dropped because the outbox was full.");
	for (i = 0; i < kh->nnotifiers; i++) {
		struct outbox_stats st;

		if (kh->outboxes[i] == NULL)
			continue;
		outbox_stats(kh->outboxes[i], &st);
		evbuffer_add_printf(b, "keyhealthd_notifier_dropped_total"
		    "{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)st.dropped);
	}
	httpd_help(b, "keyhealthd_outbox_oldest_timestamp_seconds", "gauge",
	    "When the oldest alert still queued for a notifier was queued.");
	for (i = 0; i < kh->nnotifiers; i++) {
		struct outbox_stats st;

		if (kh->outboxes[i] == NULL)
			continue;
		outbox_stats(kh->outboxes[i], &st);
		if (st.oldest == 0)
			continue;
		evbuffer_add_printf(b, "keyhealthd_outbox_oldest_timestamp_"
		    "seconds{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\"} %lld\n", (long long)st.oldest);
	}
	httpd_help(b, "keyhealthd_state_write_failures_total", "counter",
	    "State files that could not be written.");
	evbuffer_add_printf(b, "keyhealthd_state_write_failures_total %llu\n",
	    (unsigned long long)kh->stats.state_write_failures);
	httpd_help(b, "keyhealthd_reloads_total", "counter",
	    "Configuration reloads, by result.");
	evbuffer_add_printf(b, "keyhealthd_reloads_total{result=\"ok\"} %llu\n"
	    "keyhealthd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)kh->stats.reloads,
	    (unsigned long long)kh->stats.reload_failures);
}

/*
 * Healthy while not stopping, the state directory works, and every key
 * was answered for by KMS within three of its intervals (or the daemon
 * is younger than that).
 */
static int
httpd_health(struct kh *kh, char *why, size_t len)
{
	time_t	now = time(NULL);
	size_t	i, stale = 0;
	const char *first = NULL;

	if (kh->stopping) {
		(void)snprintf(why, len, "stopping");
		return 0;
	}
	if (!kh->state_ok) {
		(void)snprintf(why, len, "state directory %s is not usable",
		    kh->conf->state_dir);
		return 0;
	}
	for (i = 0; i < kh->nkeys; i++) {
		time_t lim = 3 * config_key_interval(kh->conf,
		    kh->keys[i]->ck);
		time_t since = kh->keys[i]->last_success ?
		    kh->keys[i]->last_success : kh->stats.started;

		if (now - since > lim) {
			if (first == NULL)
				first = kh_key_name(kh->keys[i]);
			stale++;
		}
	}
	if (stale > 0) {
		(void)snprintf(why, len, "no successful poll for 3 intervals "
		    "of %zu key%s (first: %s)", stale, stale == 1 ? "" : "s",
		    first);
		return 0;
	}
	(void)snprintf(why, len, "ok");
	return 1;
}

static void
httpd_cb(struct evhttp_request *req, void *arg)
{
	struct kh		*kh = arg;
	struct evbuffer		*b;
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	const char		*path = evhttp_uri_get_path(
				    evhttp_request_get_evhttp_uri(req));
	char			 why[256], *text;
	json_t			*doc;
	int			 code = 200;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "Out of memory");
		return;
	}
	if (path != NULL && strcmp(path, "/metrics") == 0) {
		metrics_render(kh, b);
		evhttp_add_header(h, "Content-Type",
		    "text/plain; version=0.0.4; charset=utf-8");
	} else if (path != NULL && strcmp(path, "/healthz") == 0) {
		if (!httpd_health(kh, why, sizeof(why)))
			code = 503;
		evbuffer_add_printf(b, "%s\n", why);
		evhttp_add_header(h, "Content-Type", "text/plain");
	} else if (path != NULL && strcmp(path, "/status") == 0) {
		doc = kh_status_json(kh, 1);
		text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) : NULL;
		json_decref(doc);
		if (text == NULL) {
			evbuffer_free(b);
			evhttp_send_error(req, 500, "Out of memory");
			return;
		}
		evbuffer_add_printf(b, "%s\n", text);
		free(text);
		evhttp_add_header(h, "Content-Type", "application/json");
	} else {
		evbuffer_free(b);
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	evhttp_send_reply(req, code, code == 200 ? "OK" :
	    "Service Unavailable", b);
	evbuffer_free(b);
}

int
httpd_start(struct kh *kh, char *err, size_t errlen)
{
	const struct config_http	*hc = &kh->conf->http;

	if (hc->listen == NULL)
		return 0;
	if ((kh->httpd = evhttp_new(kh->base)) == NULL) {
		(void)snprintf(err, errlen, "http: out of memory");
		return -1;
	}
	evhttp_set_allowed_methods(kh->httpd, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_timeout(kh->httpd, 10);
	evhttp_set_max_headers_size(kh->httpd, 8192);
	evhttp_set_max_body_size(kh->httpd, 0);
	evhttp_set_gencb(kh->httpd, httpd_cb, kh);
	if (evhttp_bind_socket(kh->httpd, hc->host, (uint16_t)hc->port) != 0) {
		(void)snprintf(err, errlen, "http: cannot listen on %s",
		    hc->listen);
		evhttp_free(kh->httpd);
		kh->httpd = NULL;
		return -1;
	}
	log_info("http: serving /metrics, /healthz and /status on %s",
	    hc->listen);
	return 0;
}

void
httpd_stop(struct kh *kh)
{
	if (kh->httpd != NULL)
		evhttp_free(kh->httpd);
	kh->httpd = NULL;
}

/*
 * The status endpoint (http.listen): /metrics in the Prometheus text
 * format, /healthz, /status.  GET and HEAD only; no secret is ever part of
 * what it serves.
 *
 * A small HTTP/1.x server of its own on the daemon's loop rather than
 * evhttp, because whoever can connect must never be able to take the
 * descriptors that KMS polls, notifiers and the outbox need (libevent
 * 2.1's evhttp has no connection cap, restarts its timeout on every byte
 * and spins on accept() at EMFILE).  Hence: at most a capped number of
 * connections, the oldest one still sending its request closed to make
 * room for a new one; one deadline for the whole exchange; one request per
 * connection; accept() paused with backoff while descriptors run out.
 */
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "alert.h"
#include "catalog.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "statewriter.h"
#include "keyhealthd.h"

#define HTTPD_MAX_REQUEST	8192	/* request line and headers */
#define HTTPD_DEADLINE		10	/* s for a whole connection */
#define HTTPD_ACCEPT_BATCH	16	/* accepts per wake-up: the loop
					 * keeps serving what it accepted */
#define HTTPD_BACKOFF_MIN	100	/* ms, accept paused at EMFILE */
#define HTTPD_BACKOFF_MAX	5000
#define HTTPD_SETTLE_MS		5000	/* accept() working this long ends it */
#define HTTPD_BACKLOG		128

enum httpd_phase {
	HTTPD_READING,		/* the request is coming in */
	HTTPD_WRITING,		/* the answer is going out */
	HTTPD_DRAINING		/* answered; reading to EOF before close */
};

struct httpd_conn {
	TAILQ_ENTRY(httpd_conn)	 entry;		/* oldest first */
	struct httpd		*h;
	int			 fd;
	enum httpd_phase	 phase;
	struct event		*io;
	struct event		*deadline;
	struct evbuffer		*out;
	int			 streaming;	/* /metrics: more to render */
	struct metrics_cursor	 cur;
	size_t			 inlen;
	char			 in[HTTPD_MAX_REQUEST];
};
TAILQ_HEAD(httpd_conns, httpd_conn);

enum httpd_pause {
	HTTPD_RUNNING,
	HTTPD_PAUSED_FDS,	/* accept() failed: EMFILE, ENFILE, ... */
	HTTPD_PAUSED_CAP	/* at the cap, every connection answering */
};

struct httpd {
	struct kh		*kh;
	int			 lfd;
	struct event		*accept_ev;
	struct event		*resume;	/* backoff timer */
	struct event		*settle;	/* ends an EMFILE pause */
	int			 settling;
	struct httpd_conns	 conns;
	size_t			 nconns;
	size_t			 cap;
	enum httpd_pause	 paused;
	long			 backoff_ms;
	struct timespec		 paused_since;
	unsigned int		 attempts;	/* failed accepts this pause */
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

/*
 * /metrics is sent in pieces, a run of keys per loop turn: rendered
 * whole, 10,000 keys made some 8 MB of text at once (the daemon's peak
 * RSS) and held the loop 45-55 ms.  The per-key families go KH_METRICS_RUN
 * keys at a time; the rest is small.  A reload between two pieces may
 * mix keys of both configurations in one scrape (each series is still
 * whole).
 */
#define KH_METRICS_RUN	256

enum metrics_part {
	METRICS_HEAD,
	METRICS_KEY_STATUS,
	METRICS_KEY_STATE,
	METRICS_KEY_FINDING,
	METRICS_FINDINGS,
	METRICS_POLLS,
	METRICS_POLL_FAILURES,
	METRICS_LAST_SUCCESS,
	METRICS_LAST_USED,
	METRICS_GRANTS,
	METRICS_REST,
	METRICS_DONE
};

static void
metrics_head(struct kh *kh, struct evbuffer *b)
{
	httpd_help(b, "keyhealthd_build_info", "gauge",
	    "Build information.");
	evbuffer_add_printf(b, "keyhealthd_build_info{version=\"%s\"} 1\n",
	    KEYHEALTHD_VERSION);
	httpd_help(b, "keyhealthd_start_time_seconds", "gauge",
	    "When the daemon started, seconds since the epoch.");
	evbuffer_add_printf(b, "keyhealthd_start_time_seconds %lld\n",
	    (long long)kh->stats.started);
	httpd_help(b, "keyhealthd_keys", "gauge",
	    "Watched keys (configured, discovered and replicas).");
	evbuffer_add_printf(b, "keyhealthd_keys %zu\n", kh->nkeys);
	if (kh->conf->discover.enabled) {
		httpd_help(b, "keyhealthd_discovered_keys", "gauge",
		    "Watched keys found by the discover: section.");
		evbuffer_add_printf(b, "keyhealthd_discovered_keys %zu\n",
		    kh->ndiscovered);
		httpd_help(b, "keyhealthd_discovery_runs_total", "counter",
		    "Discovery runs finished, by whether every account and "
		    "region could be listed.");
		evbuffer_add_printf(b, "keyhealthd_discovery_runs_total"
		    "{result=\"ok\"} %llu\n"
		    "keyhealthd_discovery_runs_total{result=\"failed\"} "
		    "%llu\n", (unsigned long long)kh->disc_runs[0],
		    (unsigned long long)kh->disc_runs[1]);
		httpd_help(b, "keyhealthd_discovered_keys_added_total",
		    "counter", "Keys discovery added to the watched set.");
		evbuffer_add_printf(b, "keyhealthd_discovered_keys_added_total "
		    "%llu\n", (unsigned long long)kh->disc_added);
		httpd_help(b, "keyhealthd_discovered_keys_removed_total",
		    "counter", "Discovered keys retired once gone from KMS.");
		evbuffer_add_printf(b, "keyhealthd_discovered_keys_removed_total"
		    " %llu\n", (unsigned long long)kh->disc_removed);
	}

}

/* One series of a key with its labels and an integer value. */
static void
metrics_key_value(struct evbuffer *b, const char *name,
    const struct kh_key *k, long long v)
{
	evbuffer_add_printf(b, "%s{", name);
	httpd_key_labels(b, k);
	evbuffer_add_printf(b, "} %lld\n", v);
}

static void
metrics_key(struct kh *kh, enum metrics_part part, size_t i,
    struct evbuffer *b)
{
	const struct kh_key	*k = kh->keys[i];
	const char		*state = NULL;
	size_t			 f;

	switch (part) {
	case METRICS_KEY_STATUS:
		metrics_key_value(b, "keyhealthd_key_status", k,
		    (long long)findings_worst(&k->findings));
		break;
	case METRICS_KEY_STATE:
		if (!k->have_snap)
			break;
		if (k->snap.describe_err.cls == KMS_OK)
			state = k->snap.meta.state;
		else if (k->snap.describe_err.cls == KMS_ERR_NOT_FOUND)
			state = "NotFound";
		if (state == NULL)
			break;
		evbuffer_add_printf(b, "keyhealthd_key_state{");
		httpd_key_labels(b, k);
		evbuffer_add_printf(b, ",state=\"");
		httpd_label(b, state);
		evbuffer_add_printf(b, "\"} 1\n");
		break;
	case METRICS_KEY_FINDING:
		for (f = 0; f < k->findings.n; f++) {
			const struct finding *fd = &k->findings.v[f];

			evbuffer_add_printf(b, "keyhealthd_key_finding{");
			httpd_key_labels(b, k);
			evbuffer_add_printf(b, ",check=\"%s\",severity=\"%s\"}"
			    " 1\n", fd->check, severity_name(fd->severity));
		}
		break;
	case METRICS_POLLS:
		metrics_key_value(b, "keyhealthd_polls_total", k,
		    (long long)k->metrics.polls);
		break;
	case METRICS_POLL_FAILURES:
		metrics_key_value(b, "keyhealthd_poll_failures_total", k,
		    (long long)k->metrics.polls_failed);
		break;
	case METRICS_LAST_SUCCESS:
		if (k->metrics.last_success != 0)
			metrics_key_value(b,
			    "keyhealthd_last_successful_poll_timestamp_seconds",
			    k, (long long)k->metrics.last_success);
		break;
	case METRICS_LAST_USED: {
		const struct key_usage *u = k->snap.usage;

		if (k->have_snap && u != NULL &&
		    k->expect.expect_use_within > 0 && u->err == NULL &&
		    u->used) {
			evbuffer_add_printf(b,
			    "keyhealthd_key_last_used_timestamp_seconds{");
			httpd_key_labels(b, k);
			evbuffer_add_printf(b, "} %.3f\n", u->last_used);
		}
		break;
	}
	case METRICS_GRANTS: {
		const struct key_grants *g = k->snap.grants;

		if (!k->have_snap || g == NULL)
			break;
		evbuffer_add_printf(b, "keyhealthd_key_grants{");
		httpd_key_labels(b, k);
		evbuffer_add_printf(b, ",kind=\"all\"} %zu\n", g->n);
		evbuffer_add_printf(b, "keyhealthd_key_grants{");
		httpd_key_labels(b, k);
		evbuffer_add_printf(b, ",kind=\"vendor\"} %zu\n", g->nvendor);
		break;
	}
	default:
		break;
	}
}

/* The per-key families' HELP and TYPE lines, by part. */
static const struct {
	const char	*name;
	const char	*type;
	const char	*help;
} metrics_key_families[METRICS_DONE] = {
	[METRICS_KEY_STATUS] = { "keyhealthd_key_status", "gauge",
	    "Worst severity of the key's findings: 0 ok, 1 info, 2 warning, "
	    "3 unknown, 4 critical." },
	[METRICS_KEY_STATE] = { "keyhealthd_key_state", "gauge",
	    "The key's KMS KeyState (1 for the current one)." },
	[METRICS_KEY_FINDING] = { "keyhealthd_key_finding", "gauge",
	    "A finding present on the key's last poll." },
	[METRICS_POLLS] = { "keyhealthd_polls_total", "counter",
	    "Polls of the key." },
	[METRICS_POLL_FAILURES] = { "keyhealthd_poll_failures_total",
	    "counter", "Polls in which KMS could not be asked about the key." },
	[METRICS_LAST_SUCCESS] = {
	    "keyhealthd_last_successful_poll_timestamp_seconds", "gauge",
	    "When KMS last answered about the key." },
	[METRICS_LAST_USED] = {
	    "keyhealthd_key_last_used_timestamp_seconds", "gauge",
	    "The key's last successful cryptographic use as GetKeyLastUsage "
	    "reported it (keys with expect_use_within and a recorded use)." },
	[METRICS_GRANTS] = { "keyhealthd_key_grants", "gauge",
	    "Grants on the key at its last ListGrants: all of them, and the "
	    "vendor's." },
};

static void
metrics_key_help(enum metrics_part part, struct evbuffer *b)
{
	if (metrics_key_families[part].name != NULL)
		httpd_help(b, metrics_key_families[part].name,
		    metrics_key_families[part].type,
		    metrics_key_families[part].help);
}

static void
metrics_findings(struct kh *kh, struct evbuffer *b)
{
	size_t		 i, f, c;
	size_t		*counts, nchecks;
	int		 sev;

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
}

static void
metrics_rest(struct kh *kh, struct evbuffer *b)
{
	size_t		 i, waiting;
	uint64_t	 cum;
	const char	*code;
	json_t		*n;

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
		    "{le=\"%g\"} %llu\n", poll_latency_bounds[i],
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
	if (kh->stats.lag_runq_ok) {
		httpd_help(b, "keyhealthd_loop_lag_own_max_seconds", "gauge",
		    "The longest loop lag since start the daemon caused: "
		    "each lag less the time the loop's thread waited for "
		    "a CPU in its period.");
		evbuffer_add_printf(b,
		    "keyhealthd_loop_lag_own_max_seconds %.6f\n",
		    kh->stats.lag_own_max);
		httpd_help(b, "keyhealthd_loop_runqueue_wait_seconds_total",
		    "counter", "Time the loop's thread was ready to run but "
		    "waited for a CPU.");
		evbuffer_add_printf(b,
		    "keyhealthd_loop_runqueue_wait_seconds_total %.6f\n",
		    kh->stats.lag_runq_wait);
	}
	httpd_help(b, "keyhealthd_state_writes_pending", "gauge",
	    "State files queued for the writer thread, not yet on disk.");
	evbuffer_add_printf(b, "keyhealthd_state_writes_pending %zu\n",
	    kh->writer != NULL ? statewriter_pending(kh->writer) : 0);

	httpd_help(b, "keyhealthd_polls_running", "gauge",
	    "Polls started and not finished.");
	for (i = 0, cum = 0, waiting = 0; i < kh->nendpoints; i++) {
		cum += kh->endpoints[i]->q.polling;
		waiting += kh->endpoints[i]->q.nwaiting;
	}
	evbuffer_add_printf(b, "keyhealthd_polls_running %llu\n",
	    (unsigned long long)cum);
	httpd_help(b, "keyhealthd_polls_waiting", "gauge",
	    "Keys due whose polls wait for their endpoint (kms.max_inflight "
	    "polls running).");
	evbuffer_add_printf(b, "keyhealthd_polls_waiting %zu\n", waiting);

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
	httpd_help(b, "keyhealthd_outbox_unsaved", "gauge",
	    "Alerts queued for a notifier only in memory: their file could "
	    "not be written yet.");
	for (i = 0; i < kh->nnotifiers; i++) {
		struct outbox_stats st;

		if (kh->outboxes[i] == NULL)
			continue;
		outbox_stats(kh->outboxes[i], &st);
		evbuffer_add_printf(b, "keyhealthd_outbox_unsaved{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\"} %zu\n", st.unsaved);
	}
	httpd_help(b, "keyhealthd_outbox_write_failures_total", "counter",
	    "Failed writes of a notifier's outbox (each retried).");
	for (i = 0; i < kh->nnotifiers; i++) {
		struct outbox_stats st;

		if (kh->outboxes[i] == NULL)
			continue;
		outbox_stats(kh->outboxes[i], &st);
		evbuffer_add_printf(b, "keyhealthd_outbox_write_failures_total"
		    "{notifier=\"");
		httpd_label(b, notify_name(kh->notifiers[i]));
		evbuffer_add_printf(b, "\"} %llu\n",
		    (unsigned long long)st.write_failures);
	}
	httpd_help(b, "keyhealthd_state_write_failures_total", "counter",
	    "State files that could not be written.");
	evbuffer_add_printf(b, "keyhealthd_state_write_failures_total %llu\n",
	    (unsigned long long)kh->stats.state_write_failures);
	httpd_help(b, "keyhealthd_http_connections", "gauge",
	    "Connections open to the HTTP endpoint.");
	evbuffer_add_printf(b, "keyhealthd_http_connections %zu\n",
	    kh->httpd != NULL ? kh->httpd->nconns : 0);
	httpd_help(b, "keyhealthd_http_connections_max", "gauge",
	    "The cap on connections to the HTTP endpoint.");
	evbuffer_add_printf(b, "keyhealthd_http_connections_max %zu\n",
	    kh->httpd != NULL ? kh->httpd->cap : 0);
	httpd_help(b, "keyhealthd_http_connections_closed_total", "counter",
	    "Connections the daemon cut: at the deadline, or the oldest "
	    "unfinished one to make room for a new one.");
	evbuffer_add_printf(b, "keyhealthd_http_connections_closed_total"
	    "{reason=\"deadline\"} %llu\n"
	    "keyhealthd_http_connections_closed_total{reason=\"evicted\"} "
	    "%llu\n", (unsigned long long)kh->stats.http_deadline,
	    (unsigned long long)kh->stats.http_evicted);
	httpd_help(b, "keyhealthd_http_accept_paused_total", "counter",
	    "Times the HTTP endpoint stopped accepting: out of descriptors "
	    "(EMFILE, ENFILE), or at the cap with every connection busy.");
	evbuffer_add_printf(b, "keyhealthd_http_accept_paused_total"
	    "{reason=\"descriptors\"} %llu\n"
	    "keyhealthd_http_accept_paused_total{reason=\"cap\"} %llu\n",
	    (unsigned long long)kh->stats.http_paused_fds,
	    (unsigned long long)kh->stats.http_paused_cap);
	httpd_help(b, "keyhealthd_reloads_total", "counter",
	    "Configuration reloads, by result.");
	evbuffer_add_printf(b, "keyhealthd_reloads_total{result=\"ok\"} %llu\n"
	    "keyhealthd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)kh->stats.reloads,
	    (unsigned long long)kh->stats.reload_failures);
}

int
metrics_render_step(struct kh *kh, struct metrics_cursor *cur,
    struct evbuffer *b)
{
	size_t	n;

	switch ((enum metrics_part)cur->part) {
	case METRICS_HEAD:
		metrics_head(kh, b);
		break;
	case METRICS_FINDINGS:
		metrics_findings(kh, b);
		break;
	case METRICS_REST:
		metrics_rest(kh, b);
		break;
	case METRICS_DONE:
		return 0;
	default:
		if (cur->i == 0)
			metrics_key_help((enum metrics_part)cur->part, b);
		/* The keys may have changed since the last piece (a
		 * reload): carry on from the same index, within bounds. */
		for (n = 0; n < KH_METRICS_RUN && cur->i < kh->nkeys;
		    n++, cur->i++)
			metrics_key(kh, (enum metrics_part)cur->part, cur->i,
			    b);
		if (cur->i < kh->nkeys)
			return 1;
		break;
	}
	cur->part++;
	cur->i = 0;
	return cur->part < METRICS_DONE;
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
		time_t since = kh->keys[i]->metrics.last_success ?
		    kh->keys[i]->metrics.last_success : kh->stats.started;

		/* A key found at run time is as young as its discovery. */
		if (kh->keys[i]->metrics.last_success == 0 &&
		    kh->keys[i]->added > since)
			since = kh->keys[i]->added;

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


/*
 * The answer to one request: its status, and its body and content type
 * in b and *ctype.
 */
static int
httpd_route(struct kh *kh, const char *path, struct evbuffer *b,
    const char **ctype)
{
	char		 why[256], *text;
	json_t		*doc;
	int		 code = 200;

	*ctype = "text/plain; charset=utf-8";
	if (strcmp(path, "/healthz") == 0) {
		if (!httpd_health(kh, why, sizeof(why)))
			code = 503;
		evbuffer_add_printf(b, "%s\n", why);
	} else if (strcmp(path, "/status") == 0) {
		doc = kh_status_json(kh, 1);
		text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) : NULL;
		json_decref(doc);
		if (text == NULL) {
			evbuffer_add_printf(b, "out of memory\n");
			return 500;
		}
		evbuffer_add_printf(b, "%s\n", text);
		free(text);
		*ctype = "application/json";
	} else {
		evbuffer_add_printf(b, "not found\n");
		code = 404;
	}
	return code;
}

static const char *
httpd_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

static void	httpd_conn_io(evutil_socket_t, short, void *);
static void	httpd_accept_cb(evutil_socket_t, short, void *);

static void
httpd_accept_enable(struct httpd *h)
{
	if (h->accept_ev != NULL)
		(void)event_add(h->accept_ev, NULL);
}

static int64_t
httpd_ms_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* A pause is logged when it starts and when it ends, never in between. */
static void
httpd_pause(struct httpd *h, enum httpd_pause why, int err)
{
	struct timeval	tv;

	(void)event_del(h->accept_ev);
	h->attempts++;
	if (h->settling) {		/* the same pause goes on */
		(void)evtimer_del(h->settle);
		h->settling = 0;
	}
	if (h->paused != HTTPD_RUNNING)
		h->paused = why;	/* a cap pause resumes on a close */
	else {
		h->paused = why;
		clock_gettime(CLOCK_MONOTONIC, &h->paused_since);
		if (why == HTTPD_PAUSED_FDS) {
			h->kh->stats.http_paused_fds++;
			log_warnx("http: accept: %s (%zu connections open); not "
			    "accepting connections for a while",
			    strerror(err), h->nconns);
		} else {
			h->kh->stats.http_paused_cap++;
			log_warnx("http: %zu connections open (the cap), all "
			    "being answered; not accepting connections until "
			    "one closes", h->nconns);
		}
	}
	if (why != HTTPD_PAUSED_FDS)
		return;		/* resumes when a connection closes */
	h->backoff_ms = h->backoff_ms == 0 ? HTTPD_BACKOFF_MIN :
	    h->backoff_ms * 2;
	if (h->backoff_ms > HTTPD_BACKOFF_MAX)
		h->backoff_ms = HTTPD_BACKOFF_MAX;
	tv.tv_sec = h->backoff_ms / 1000;
	tv.tv_usec = (h->backoff_ms % 1000) * 1000;
	(void)evtimer_add(h->resume, &tv);
}

static void
httpd_resumed_log(struct httpd *h)
{
	log_info("http: accepting connections again after %llds (%u "
	    "attempt%s)", (long long)(httpd_ms_since(&h->paused_since) / 1000),
	    h->attempts, h->attempts == 1 ? "" : "s");
	h->paused = HTTPD_RUNNING;
	h->backoff_ms = 0;
	h->attempts = 0;
}

/*
 * An accept() that works ends a cap pause.  An EMFILE pause ends once
 * accept() has kept working for HTTPD_SETTLE_MS: near the limit every
 * freed descriptor lets one connection through before EMFILE again, and
 * logging each such flap would fill the log the pause is there to spare.
 */
static void
httpd_resumed(struct httpd *h)
{
	struct timeval	tv;

	if (h->paused == HTTPD_RUNNING)
		return;
	if (h->paused != HTTPD_PAUSED_FDS) {
		httpd_resumed_log(h);
		return;
	}
	if (h->settling)
		return;
	h->settling = 1;
	tv.tv_sec = HTTPD_SETTLE_MS / 1000;
	tv.tv_usec = (HTTPD_SETTLE_MS % 1000) * 1000;
	(void)evtimer_add(h->settle, &tv);
}

static void
httpd_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd	*h = arg;

	(void)fd;
	(void)what;
	h->settling = 0;
	if (h->paused == HTTPD_PAUSED_FDS)
		httpd_resumed_log(h);
}

static void
httpd_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpd_accept_enable(arg);
}

static void
httpd_conn_free(struct httpd_conn *c)
{
	struct httpd	*h = c->h;

	TAILQ_REMOVE(&h->conns, c, entry);
	h->nconns--;
	if (c->io != NULL)
		event_free(c->io);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->out != NULL)
		evbuffer_free(c->out);
	(void)close(c->fd);
	free(c);
	if (h->paused == HTTPD_PAUSED_CAP)
		httpd_accept_enable(h);
}

/* Room for one more: the oldest connection that is not being answered
 * goes (a client that has not sent its request within the time others
 * took to connect is the likeliest to be a slow or idle one). */
static int
httpd_evict(struct httpd *h)
{
	struct httpd_conn	*c;

	TAILQ_FOREACH(c, &h->conns, entry)
		if (c->phase != HTTPD_WRITING) {
			if (c->phase == HTTPD_READING)
				h->kh->stats.http_evicted++;
			httpd_conn_free(c);
			return 0;
		}
	return -1;
}

static void
httpd_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->phase != HTTPD_DRAINING)
		c->h->kh->stats.http_deadline++;
	httpd_conn_free(c);
}

static void
httpd_conn_watch(struct httpd_conn *c, short what)
{
	(void)event_del(c->io);
	(void)event_assign(c->io, c->h->kh->base, c->fd, what | EV_PERSIST,
	    httpd_conn_io, c);
	(void)event_add(c->io, NULL);
}

/* Sends what is left of the answer; 1 while more is to go, 0 when all
 * went (then the connection drains), -1 when the peer is gone. */
static int
httpd_conn_flush(struct httpd_conn *c)
{
	for (;;) {
		while (evbuffer_get_length(c->out) > 0) {
			if (evbuffer_write(c->out, c->fd) == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 1;
				if (errno == EINTR)
					continue;
				return -1;
			}
		}
		if (!c->streaming)
			break;
		/* One piece per loop turn: the write event brings the
		 * next one after whatever else is due. */
		c->streaming = metrics_render_step(c->h->kh, &c->cur, c->out);
		if (c->streaming)
			return 1;
	}
	/* Half-close, then read to EOF: closing with unread bytes would
	 * reset the connection and could lose the answer. */
	(void)shutdown(c->fd, SHUT_WR);
	c->phase = HTTPD_DRAINING;
	httpd_conn_watch(c, EV_READ);
	return 0;
}

static void
httpd_conn_answer(struct httpd_conn *c, int code, const char *ctype,
    struct evbuffer *body, int head)
{
	evbuffer_add_printf(c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", code,
	    httpd_reason(code), ctype, evbuffer_get_length(body),
	    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		(void)evbuffer_add_buffer(c->out, body);
	c->phase = HTTPD_WRITING;
	if (httpd_conn_flush(c) == -1)
		httpd_conn_free(c);
	else if (c->phase == HTTPD_WRITING)
		httpd_conn_watch(c, EV_WRITE);
}

/* A complete request head is in c->in: answer it. */
static void
httpd_conn_request(struct httpd_conn *c)
{
	struct evbuffer	*b;
	const char	*ctype = "text/plain; charset=utf-8";
	char		*method, *path;
	int		 code, head = 0;

	if ((b = evbuffer_new()) == NULL) {
		httpd_conn_free(c);
		return;
	}
	c->in[c->inlen] = '\0';
	if (http_parse_request_line(c->in, &method, &path) == -1) {
		evbuffer_add_printf(b, "bad request\n");
		code = 400;
	} else if (strcmp(method, "GET") != 0 &&
	    !(head = strcmp(method, "HEAD") == 0)) {
		evbuffer_add_printf(b, "method not allowed\n");
		code = 405;
	} else if (strcmp(path, "/metrics") == 0) {
		/* Sent as it is rendered, without a Content-Length: the
		 * end of the body is the end of the connection. */
		evbuffer_free(b);
		evbuffer_add_printf(c->out, "HTTP/1.1 200 OK\r\nContent-Type: "
		    "text/plain; version=0.0.4; charset=utf-8\r\n"
		    "Connection: close\r\n\r\n");
		c->streaming = !head;
		memset(&c->cur, 0, sizeof(c->cur));
		c->phase = HTTPD_WRITING;
		if (httpd_conn_flush(c) == -1)
			httpd_conn_free(c);
		else if (c->phase == HTTPD_WRITING)
			httpd_conn_watch(c, EV_WRITE);
		return;
	} else
		code = httpd_route(c->h->kh, path, b, &ctype);
	httpd_conn_answer(c, code, ctype, b, head);
	evbuffer_free(b);
}

/* Reads what the peer sent; answers once the headers are complete. */
static void
httpd_conn_read(struct httpd_conn *c)
{
	char	 sink[4096];
	ssize_t	 n;
	size_t	 from;

	for (;;) {
		if (c->phase == HTTPD_DRAINING)
			n = recv(c->fd, sink, sizeof(sink), 0);
		else
			n = recv(c->fd, c->in + c->inlen,
			    sizeof(c->in) - 1 - c->inlen, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			httpd_conn_free(c);
			return;
		}
		if (c->phase == HTTPD_DRAINING)
			continue;
		from = c->inlen;
		c->inlen += (size_t)n;
		if (http_head_complete(c->in, c->inlen, from)) {
			httpd_conn_request(c);
			return;
		}
		if (c->inlen == sizeof(c->in) - 1) {
			struct evbuffer *b = evbuffer_new();

			if (b == NULL) {
				httpd_conn_free(c);
				return;
			}
			evbuffer_add_printf(b, "request headers too large\n");
			httpd_conn_answer(c, 431, "text/plain; charset=utf-8",
			    b, 0);
			evbuffer_free(b);
			return;
		}
	}
}

static void
httpd_conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn	*c = arg;

	(void)fd;
	if ((what & EV_WRITE) && c->phase == HTTPD_WRITING) {
		if (httpd_conn_flush(c) == -1)
			httpd_conn_free(c);
		return;
	}
	if (what & EV_READ)
		httpd_conn_read(c);
}

static void
httpd_conn_new(struct httpd *h, int fd)
{
	struct httpd_conn	*c;
	struct timeval		 tv = { HTTPD_DEADLINE, 0 };

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)close(fd);
		return;
	}
	c->h = h;
	c->fd = fd;
	c->phase = HTTPD_READING;
	TAILQ_INSERT_TAIL(&h->conns, c, entry);
	h->nconns++;
	if ((c->out = evbuffer_new()) == NULL ||
	    (c->io = event_new(h->kh->base, fd, EV_READ | EV_PERSIST,
	    httpd_conn_io, c)) == NULL ||
	    (c->deadline = evtimer_new(h->kh->base, httpd_deadline_cb,
	    c)) == NULL || evtimer_add(c->deadline, &tv) == -1 ||
	    event_add(c->io, NULL) == -1) {
		httpd_conn_free(c);
		return;
	}
	/* The request usually came with the handshake: answering it now
	 * keeps a flood of new connections from evicting it first. */
	httpd_conn_read(c);
}

static void
httpd_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct httpd	*h = arg;
	int		 fd, i;

	(void)what;
	for (i = 0; i < HTTPD_ACCEPT_BATCH; i++) {
		if (h->nconns >= h->cap && httpd_evict(h) == -1) {
			httpd_pause(h, HTTPD_PAUSED_CAP, 0);
			return;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				if (h->paused == HTTPD_PAUSED_CAP)
					httpd_resumed(h);
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
				continue;	/* that one connection */
			default:
				/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the
				 * listener stays readable, so retrying now
				 * would spin. */
				httpd_pause(h, HTTPD_PAUSED_FDS, errno);
				return;
			}
		}
		httpd_resumed(h);
		httpd_conn_new(h, fd);
	}
}

/* The cap: http.max_connections, and never more than a quarter of the
 * open-file limit, so that the rest stays for KMS, notifiers and state. */
static size_t
httpd_cap(const struct config_http *hc)
{
	struct rlimit	rl;
	size_t		cap = (size_t)hc->max_connections, fdcap;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return cap;
	fdcap = (size_t)(rl.rlim_cur / 4);
	if (fdcap < 1)
		fdcap = 1;
	if (cap > fdcap) {
		log_warnx("http: at most %zu connections, not %zu: a quarter of "
		    "the open-file limit (%llu), the rest is kept for KMS, "
		    "notifiers and state files", fdcap, cap,
		    (unsigned long long)rl.rlim_cur);
		cap = fdcap;
	}
	return cap;
}

static int
httpd_listen(const struct config_http *hc, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res;
	char		 port[16];
	int		 fd, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	(void)snprintf(port, sizeof(port), "%d", hc->port);
	if ((rc = getaddrinfo(hc->host, port, &hints, &res)) != 0) {
		(void)snprintf(err, errlen, "http: cannot listen on %s: %s",
		    hc->listen, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, HTTPD_BACKLOG) == -1) {
		(void)snprintf(err, errlen, "http: cannot listen on %s: %s",
		    hc->listen, strerror(errno));
		if (fd != -1)
			(void)close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
httpd_start(struct kh *kh, char *err, size_t errlen)
{
	const struct config_http	*hc = &kh->conf->http;
	struct httpd			*h;

	if (hc->listen == NULL)
		return 0;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		(void)snprintf(err, errlen, "http: out of memory");
		return -1;
	}
	h->kh = kh;
	TAILQ_INIT(&h->conns);
	h->cap = httpd_cap(hc);
	if ((h->lfd = httpd_listen(hc, err, errlen)) == -1) {
		free(h);
		return -1;
	}
	kh->httpd = h;
	if ((h->accept_ev = event_new(kh->base, h->lfd, EV_READ | EV_PERSIST,
	    httpd_accept_cb, h)) == NULL ||
	    (h->resume = evtimer_new(kh->base, httpd_resume_cb, h)) == NULL ||
	    (h->settle = evtimer_new(kh->base, httpd_settle_cb, h)) == NULL ||
	    event_add(h->accept_ev, NULL) == -1) {
		httpd_stop(kh);
		(void)snprintf(err, errlen, "http: out of memory");
		return -1;
	}
	log_info("http: serving /metrics, /healthz and /status on %s (at "
	    "most %zu connections)", hc->listen, h->cap);
	return 0;
}

void
httpd_reload(struct kh *kh)
{
	struct httpd	*h = kh->httpd;
	size_t		 cap;

	if (h == NULL || (cap = httpd_cap(&kh->conf->http)) == h->cap)
		return;
	log_info("http: at most %zu connections (was %zu)", cap, h->cap);
	h->cap = cap;
	/* Over a lowered cap, connections close as they finish; a raised
	 * one may let accepting resume. */
	if (h->paused == HTTPD_PAUSED_CAP)
		httpd_accept_enable(h);
}

void
httpd_stop(struct kh *kh)
{
	struct httpd		*h = kh->httpd;
	struct httpd_conn	*c;

	if (h == NULL)
		return;
	h->paused = HTTPD_RUNNING;	/* no resume from the frees */
	while ((c = TAILQ_FIRST(&h->conns)) != NULL)
		httpd_conn_free(c);
	if (h->accept_ev != NULL)
		event_free(h->accept_ev);
	if (h->resume != NULL)
		event_free(h->resume);
	if (h->settle != NULL)
		event_free(h->settle);
	(void)close(h->lfd);
	free(h);
	kh->httpd = NULL;
}

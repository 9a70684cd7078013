/*
 * notify_send: drives the notifiers and the outbox without the daemon.
 *
 *   notify_send -c CONFIG --state-dir DIR [--events FILE] [--timeout SEC]
 *       [--backoff-min MS] [--backoff-max MS] [--max-events N]
 *       [--max-bytes N] [--host NAME] [-v]
 *
 * CONFIG is YAML with a `notifiers:` list as in keyhealthd.yaml.  Events
 * are JSON lines (stdin by default): the outbox form of lib/alert, where
 * id, fingerprint, status (firing), started_at (now), details and the key
 * name may be left out.  Each event that passes a notifier's filters is
 * enqueued into its outbox under DIR; then the loop runs until every
 * outbox is empty or the timeout.  Each delivery attempt is printed on
 * stdout as a JSON line, then one summary line per notifier.  Exit 0 when
 * everything was delivered, 1 when something is left, 2 on usage/config
 * errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "alert.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "ynode.h"


struct ns_target {
	struct notifier	*n;
	struct outbox	*ob;
};

struct ns_call {
	struct ns_target	*t;
	char			 id[40];
	char			*check;
	enum alert_status	 status;
	notify_done_cb		 done;
	void			*arg;
};

static struct ns_target	*targets;
static size_t		 ntargets;
static struct event_base *base;

static void
usage(void)
{
	fprintf(stderr, "usage: notify_send -c CONFIG --state-dir DIR "
	    "[--events FILE] [--timeout SEC] [--backoff-min MS] "
	    "[--backoff-max MS] [--max-events N] [--max-bytes N] "
	    "[--host NAME] [-v]\n");
	exit(2);
}

static long
num_arg(const char *s, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "notify_send: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static const char *
result_name(enum notify_result r)
{
	switch (r) {
	case NOTIFY_ACK:
		return "ack";
	case NOTIFY_PERMANENT:
		return "permanent";
	case NOTIFY_RETRY:
	default:
		return "retry";
	}
}

static void
print_json(json_t *j)
{
	char	*s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (s != NULL) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
	json_decref(j);
}

static void
ns_done(void *arg, enum notify_result r, const char *why)
{
	struct ns_call	*c = arg;

	print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
	    "notifier", notify_name(c->t->n),
	    "event", c->id,
	    "check", c->check,
	    "status", alert_status_name(c->status),
	    "result", result_name(r),
	    "why", why != NULL ? json_string(why) : json_null()));
	c->done(c->arg, r, why);
	free(c->check);
	free(c);
}

/* The outbox's send: notes the outcome on the way back. */
static int
ns_send(void *arg, const struct alert_event *ev, notify_done_cb done,
    void *donearg)
{
	struct ns_target	*t = arg;
	struct ns_call		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->check = strdup(ev->check)) == NULL) {
		free(c);
		return -1;
	}
	c->t = t;
	memcpy(c->id, ev->id, sizeof(c->id));
	c->status = ev->status;
	c->done = done;
	c->arg = donearg;
	if (notify_send(t->n, ev, ns_done, c) == -1) {
		free(c->check);
		free(c);
		return -1;
	}
	return 0;
}

/* Fills what an input line may leave out, then parses it. */
static int
parse_event(json_t *j, struct alert_event *ev, char *err, size_t errlen)
{
	json_t		*key;
	const char	*arn, *check;
	char		 fp[65], id[40];

	if (!json_is_object(j)) {
		(void)snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	key = json_object_get(j, "key");
	if (key == NULL && json_is_string(json_object_get(j, "key_arn"))) {
		key = json_pack("{s:O}", "arn", json_object_get(j,
		    "key_arn"));
		json_object_set_new(j, "key", key);
	}
	arn = json_string_value(json_object_get(key, "arn"));
	check = json_string_value(json_object_get(j, "check"));
	if (arn == NULL || check == NULL) {
		(void)snprintf(err, errlen, "needs key.arn and check");
		return -1;
	}
	if (json_object_get(j, "fingerprint") == NULL) {
		alert_fingerprint(arn, check, fp);
		json_object_set_new(j, "fingerprint", json_string(fp));
	}
	if (json_object_get(j, "id") == NULL) {
		alert_event_new_id(id);
		json_object_set_new(j, "id", json_string(id));
	}
	if (json_object_get(j, "status") == NULL)
		json_object_set_new(j, "status", json_string("firing"));
	if (json_object_get(j, "started_at") == NULL)
		json_object_set_new(j, "started_at",
		    json_integer((json_int_t)time(NULL)));
	if (json_object_get(j, "ended_at") == NULL &&
	    strcmp(json_string_value(json_object_get(j, "status")),
	    "resolved") == 0)
		json_object_set_new(j, "ended_at",
		    json_integer((json_int_t)time(NULL)));
	return alert_event_from_json(j, ev, err, errlen);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	size_t	i;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < ntargets; i++)
		if (!outbox_idle(targets[i].ob))
			return;
	event_base_loopbreak(base);
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

int
main(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "backoff-min", required_argument, NULL, 'b' },
		{ "backoff-max", required_argument, NULL, 'B' },
		{ "max-events", required_argument, NULL, 'm' },
		{ "max-bytes", required_argument, NULL, 'M' },
		{ "host", required_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*config = NULL, *state_dir = NULL;
	const char		*events = "-", *host = "notify-send-test";
	struct outbox_opts	 oo;
	struct notify_env	 env;
	struct notifier		**ns = NULL;
	struct ynode		*root;
	struct event		*tick, *stop, *sigterm, *sigint;
	struct timeval		 tv;
	struct outbox_stats	 st;
	struct alert_event	 ev;
	json_error_t		 jerr;
	json_t			*j;
	FILE			*in;
	char			 err[1024], *line = NULL;
	size_t			 nns = 0, linecap = 0, i;
	ssize_t			 linelen;
	long			 timeout = 30;
	int			 ch, verbose = 0, rc = 0, lineno = 0;

	memset(&oo, 0, sizeof(oo));
	while ((ch = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'e':
			events = optarg;
			break;
		case 't':
			timeout = num_arg(optarg, "timeout");
			break;
		case 'b':
			oo.backoff_min_ms = num_arg(optarg, "backoff-min");
			break;
		case 'B':
			oo.backoff_max_ms = num_arg(optarg, "backoff-max");
			break;
		case 'm':
			oo.max_events = (size_t)num_arg(optarg, "max-events");
			break;
		case 'M':
			oo.max_bytes = (size_t)num_arg(optarg, "max-bytes");
			break;
		case 'H':
			host = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (config == NULL || state_dir == NULL || optind != argc)
		usage();
	log_init(LOG_TO_STDERR, verbose, "notify_send");
	signal(SIGPIPE, SIG_IGN);

	if ((root = ynode_parse_file(config, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (notify_new_all(ynode_get(root, "notifiers"), &ns, &nns, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		ynode_free(root);
		return 2;
	}
	ynode_free(root);

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	memset(&env, 0, sizeof(env));
	env.base = base;
	env.hostname = host;
	env.source = "keyhealthd/" KEYHEALTHD_VERSION;
	if ((env.http = http_new(base, NULL, err, sizeof(err))) == NULL)
		fatalx("http_new: %s", err);
	if ((targets = calloc(nns + 1, sizeof(*targets))) == NULL)
		fatal("calloc");
	ntargets = nns;
	for (i = 0; i < nns; i++) {
		targets[i].n = ns[i];
		if (notify_start(ns[i], &env, err, sizeof(err)) == -1) {
			fprintf(stderr, "notifier %s: %s\n", notify_name(ns[i]),
			    err);
			return 2;
		}
		targets[i].ob = outbox_new(base, state_dir, notify_name(ns[i]),
		    &oo, ns_send, &targets[i], err, sizeof(err));
		if (targets[i].ob == NULL) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
	}

	/* Everything is durably queued before the first delivery starts. */
	if (strcmp(events, "-") == 0)
		in = stdin;
	else if ((in = fopen(events, "r")) == NULL)
		fatal("%s", events);
	while ((linelen = getline(&line, &linecap, in)) != -1) {
		lineno++;
		if (linelen <= 1)
			continue;
		if ((j = json_loads(line, 0, &jerr)) == NULL) {
			fprintf(stderr, "events:%d: %s\n", lineno, jerr.text);
			return 2;
		}
		if (parse_event(j, &ev, err, sizeof(err)) == -1) {
			fprintf(stderr, "events:%d: %s\n", lineno, err);
			return 2;
		}
		json_decref(j);
		for (i = 0; i < ntargets; i++) {
			if (!notify_filter(targets[i].n, &ev)) {
				print_json(json_pack("{s:s, s:s, s:s}",
				    "notifier", notify_name(targets[i].n),
				    "event", ev.id, "result", "filtered"));
				continue;
			}
			if (outbox_enqueue(targets[i].ob, &ev, err,
			    sizeof(err)) == -1) {
				fprintf(stderr, "%s\n", err);
				rc = 1;
			}
		}
		alert_event_clear(&ev);
	}
	free(line);
	if (in != stdin)
		fclose(in);

	for (i = 0; i < ntargets; i++)
		outbox_start(targets[i].ob);
	tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	event_add(tick, &tv);
	stop = evtimer_new(base, on_stop, NULL);
	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	evtimer_add(stop, &tv);
	sigterm = evsignal_new(base, SIGTERM, on_stop, NULL);
	sigint = evsignal_new(base, SIGINT, on_stop, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_base_dispatch(base);

	for (i = 0; i < ntargets; i++) {
		notify_stop(targets[i].n);
		outbox_stats(targets[i].ob, &st);
		if (st.depth > 0)
			rc = 1;
		print_json(json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I, "
		    "s:I, s:I}}", "notifier", notify_name(targets[i].n),
		    "summary",
		    "depth", (json_int_t)st.depth,
		    "enqueued", (json_int_t)st.enqueued,
		    "delivered", (json_int_t)st.delivered,
		    "failed", (json_int_t)st.failed,
		    "dropped", (json_int_t)st.dropped,
		    "retries", (json_int_t)st.retries,
		    "over_cap", (json_int_t)st.over_cap));
		outbox_free(targets[i].ob);
	}
	notify_free_all(ns, nns);
	free(targets);
	event_free(tick);
	event_free(stop);
	event_free(sigterm);
	event_free(sigint);
	http_free(env.http);
	event_base_free(base);
	return rc;
}

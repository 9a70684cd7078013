/*
 * Drives one pagerduty, alertmanager or slack notifier for the
 * integration tests, without the daemon: configures it from a YAML file
 * whose root is the notifier block, starts it on a libevent loop with the
 * shared HTTP client, reads events as JSON lines on stdin (as they come, so
 * a test can wait between them) and prints one line per delivery:
 *
 *	result ID ack
 *	result ID retry WHY
 *	result ID permanent WHY
 *
 * An event line: {"id", "status": "firing"|"resolved", "check", "severity",
 * "key": {"arn", "name", "region", "account"}, "summary", "details": {},
 * "fingerprint", "started_at": epoch, "ended_at": epoch}.
 *
 * usage: notify_drive [-v] [-r retries] [-d retry_delay_ms]
 *	      [-l linger_s] [-t timeout_s] config.yaml
 * Retries re-send a RETRY outcome (as the outbox would); after stdin's end
 * and the last delivery it keeps the loop running for linger_s seconds
 * (so the alertmanager notifier can re-post).  Exit 0, or 1 on a config
 * or start error (printed as "config error: ..."), 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "alert.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "ynode.h"


static const struct notify_ops *drive_types[] = {
	&notify_pagerduty_ops,
	&notify_alertmanager_ops,
	&notify_slack_ops,
	NULL
};

struct drive_delivery {
	struct alert_event	*ev;
	int			 attempts;
	struct event		*retry;
};

static const struct notify_ops	*ops;
static void			*state;
static struct event_base	*base;
static int			 pending;
static int			 eof;
static long			 max_retries;
static long			 retry_delay_ms = 200;
static long			 linger_s;
static struct event		*linger_ev;
static char			 linebuf[1024 * 1024];
static size_t			 linelen;

static void	drive_send(struct drive_delivery *);

static void
drive_event_free(struct alert_event *ev)
{
	free(ev->check);
	free(ev->key_arn);
	free(ev->key_name);
	free(ev->region);
	free(ev->account);
	free(ev->summary);
	json_decref(ev->details);
	free(ev);
}

static char *
drive_strdup(const json_t *v)
{
	return strdup(json_is_string(v) ? json_string_value(v) : "");
}

static struct alert_event *
drive_event_parse(const char *line)
{
	struct alert_event	*ev;
	json_error_t		 jerr;
	json_t			*j, *key;
	const char		*s;

	if ((j = json_loads(line, 0, &jerr)) == NULL) {
		fprintf(stderr, "bad event line: %s\n", jerr.text);
		return NULL;
	}
	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		exit(1);
	key = json_object_get(j, "key");
	(void)snprintf(ev->id, sizeof(ev->id), "%s",
	    json_string_value(json_object_get(j, "id")) != NULL ?
	    json_string_value(json_object_get(j, "id")) : "?");
	(void)snprintf(ev->fingerprint, sizeof(ev->fingerprint), "%s",
	    json_string_value(json_object_get(j, "fingerprint")) != NULL ?
	    json_string_value(json_object_get(j, "fingerprint")) : "");
	s = json_string_value(json_object_get(j, "status"));
	ev->status = s != NULL && strcmp(s, "resolved") == 0 ?
	    ALERT_RESOLVED : ALERT_FIRING;
	ev->check = drive_strdup(json_object_get(j, "check"));
	s = json_string_value(json_object_get(j, "severity"));
	if (s == NULL || severity_parse(s, &ev->severity) == -1)
		ev->severity = SEV_CRITICAL;
	ev->key_arn = drive_strdup(json_object_get(key, "arn"));
	ev->key_name = drive_strdup(json_object_get(key, "name"));
	ev->region = drive_strdup(json_object_get(key, "region"));
	ev->account = drive_strdup(json_object_get(key, "account"));
	ev->summary = drive_strdup(json_object_get(j, "summary"));
	ev->details = json_incref(json_object_get(j, "details"));
	if (ev->details == NULL)
		ev->details = json_object();
	ev->started_at = (time_t)json_integer_value(json_object_get(j,
	    "started_at"));
	ev->ended_at = (time_t)json_integer_value(json_object_get(j,
	    "ended_at"));
	json_decref(j);
	return ev;
}

static void
drive_maybe_finish(void)
{
	struct timeval	tv = { 0, 0 };

	if (!eof || pending > 0)
		return;
	tv.tv_sec = linger_s;
	event_add(linger_ev, &tv);
}

static void
drive_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

static void
drive_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drive_send(arg);
}

static void
drive_done(void *arg, enum notify_result r, const char *why)
{
	struct drive_delivery	*d = arg;
	struct timeval		 tv;

	printf("result %s %s%s%s\n", d->ev->id, r == NOTIFY_ACK ? "ack" :
	    r == NOTIFY_RETRY ? "retry" : "permanent", why != NULL ? " " : "",
	    why != NULL ? why : "");
	fflush(stdout);
	if (r == NOTIFY_RETRY && d->attempts <= max_retries &&
	    (why == NULL || strcmp(why, "stopped") != 0)) {
		tv.tv_sec = retry_delay_ms / 1000;
		tv.tv_usec = (retry_delay_ms % 1000) * 1000;
		if (d->retry == NULL)
			d->retry = evtimer_new(base, drive_retry_cb, d);
		evtimer_add(d->retry, &tv);
		return;
	}
	if (d->retry != NULL)
		event_free(d->retry);
	drive_event_free(d->ev);
	free(d);
	pending--;
	drive_maybe_finish();
}

static void
drive_send(struct drive_delivery *d)
{
	d->attempts++;
	if (ops->send(state, d->ev, drive_done, d) == -1) {
		printf("result %s notstarted\n", d->ev->id);
		fflush(stdout);
		if (d->retry != NULL)
			event_free(d->retry);
		drive_event_free(d->ev);
		free(d);
		pending--;
		drive_maybe_finish();
	}
}

static void
drive_line(const char *line)
{
	struct drive_delivery	*d;
	struct alert_event	*ev;

	if (*line == '\0')
		return;
	if ((ev = drive_event_parse(line)) == NULL)
		return;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		exit(1);
	d->ev = ev;
	pending++;
	drive_send(d);
}

static void
drive_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event	*self = arg;
	ssize_t		 n;
	char		*nl;

	(void)what;
	n = read(fd, linebuf + linelen, sizeof(linebuf) - 1 - linelen);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		linebuf[linelen] = '\0';
		drive_line(linebuf);
		linelen = 0;
		event_del(self);
		eof = 1;
		drive_maybe_finish();
		return;
	}
	linelen += (size_t)n;
	linebuf[linelen] = '\0';
	while ((nl = strchr(linebuf, '\n')) != NULL) {
		*nl = '\0';
		drive_line(linebuf);
		linelen -= (size_t)(nl + 1 - linebuf);
		memmove(linebuf, nl + 1, linelen + 1);
	}
	if (linelen == sizeof(linebuf) - 1) {
		fprintf(stderr, "event line too long\n");
		exit(1);
	}
}

static void
drive_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fprintf(stderr, "notify_drive: timed out\n");
	exit(3);
}

static long
drive_num(const char *s)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "bad number: %s\n", s);
		exit(2);
	}
	return v;
}

/* Each configuration error on a line, as the tests read them. */
static void
drive_config_error(void *arg, const struct ynode *at, const char *msg)
{
	char	where[1024];

	(void)arg;
	printf("config error: %s: %s\n", ynode_where(at, where,
	    sizeof(where)), msg);
}

int
main(int argc, char *argv[])
{
	struct notify_env	 env;
	struct notify_conf	 nc;
	struct ynode		*root, *t;
	struct http		*http;
	struct event		*in, *to;
	struct timeval		 tv;
	char			 err[1024];
	long			 timeout_s = 60;
	int			 ch, verbose = 0, i;

	while ((ch = getopt(argc, argv, "d:l:r:t:v")) != -1) {
		switch (ch) {
		case 'd':
			retry_delay_ms = drive_num(optarg);
			break;
		case 'l':
			linger_s = drive_num(optarg);
			break;
		case 'r':
			max_retries = drive_num(optarg);
			break;
		case 't':
			timeout_s = drive_num(optarg);
			break;
		case 'v':
			verbose++;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	log_init(LOG_TO_STDERR, verbose, "notify_drive");

	if ((root = ynode_parse_file(argv[optind], err, sizeof(err))) ==
	    NULL) {
		printf("config error: %s\n", err);
		return 1;
	}
	t = ynode_get(root, "type");
	for (i = 0; drive_types[i] != NULL; i++)
		if (t != NULL && t->type == YNODE_SCALAR &&
		    strcmp(t->value, drive_types[i]->type) == 0)
			ops = drive_types[i];
	if (ops == NULL) {
		printf("config error: type must be pagerduty, alertmanager or "
		    "slack\n");
		return 1;
	}
	notify_conf_init(&nc, drive_config_error, NULL);
	if (ops->configure(root, &state, &nc) == -1) {
		ynode_free(root);
		return 1;
	}
	ynode_free(root);

	if ((base = event_base_new()) == NULL ||
	    (http = http_new(base, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cannot set up the loop: %s\n", err);
		return 1;
	}
	memset(&env, 0, sizeof(env));
	env.base = base;
	env.http = http;
	env.hostname = "testhost.example";
	env.source = "keyhealthd/test";
	if (ops->start(state, &env, err, sizeof(err)) == -1) {
		printf("config error: %s\n", err);
		return 1;
	}
	linger_ev = evtimer_new(base, drive_linger_cb, NULL);
	in = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST,
	    drive_stdin_cb, event_self_cbarg());
	event_add(in, NULL);
	to = evtimer_new(base, drive_timeout_cb, NULL);
	tv.tv_sec = timeout_s;
	tv.tv_usec = 0;
	evtimer_add(to, &tv);
	printf("ready\n");
	fflush(stdout);

	event_base_dispatch(base);

	ops->stop(state);
	ops->free(state);
	http_free(http);
	event_free(in);
	event_free(to);
	event_free(linger_ev);
	event_base_free(base);
	printf("done\n");
	return 0;

usage:
	fprintf(stderr, "usage: notify_drive [-v] [-r retries] "
	    "[-d retry_delay_ms] [-l linger_s] [-t timeout_s] config.yaml\n");
	return 2;
}

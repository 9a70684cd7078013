/*
 * creds_get on the daemon's machinery: a libevent loop, lib/http and
 * lib/creds_async.  Same options and output as creds_get (see there), plus
 * --watch SECONDS, which asks the provider every 200 ms (a timer on the
 * loop) and prints each new set.  Without --watch it stops after the first.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "creds.h"
#include "creds_async.h"
#include "http.h"

extern char **environ;

struct state {
	struct event_base	*base;
	struct creds_provider	*p;
	struct event		*tick;
	time_t			 end;
	char			 last[256];
	int			 nsets;
	int			 failed;
	int			 waiting;
};

static void
print_creds(const char *desc, const struct creds *c)
{
	json_t	*o;
	char	*s;

	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}",
	    "source", desc,
	    "AccessKeyId", c->access_key_id,
	    "SecretAccessKey", c->secret_access_key,
	    "SessionToken", c->session_token != NULL ?
	    json_string(c->session_token) : json_null(),
	    "Expiration", (json_int_t)c->expiration,
	    "Now", (json_int_t)time(NULL));
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "creds_get_async: out of memory\n");
		exit(1);
	}
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static void
seen(struct state *st, const struct creds *c)
{
	if (strcmp(st->last, c->access_key_id) != 0) {
		snprintf(st->last, sizeof(st->last), "%s", c->access_key_id);
		print_creds(creds_provider_describe(st->p), c);
		st->nsets++;
	}
}

static void
got(void *arg, const struct creds *c, const char *err)
{
	struct state	*st = arg;

	st->waiting = 0;
	if (c == NULL) {
		fprintf(stderr, "creds_get_async: %s\n", err);
		st->failed = 1;
		event_base_loopbreak(st->base);
		return;
	}
	seen(st, c);
}

static void
tick(evutil_socket_t fd, short ev, void *arg)
{
	struct state		*st = arg;
	const struct creds	*c;
	struct timeval		 tv = { 0, 200 * 1000 };
	char			 err[1024];
	int			 rc;

	(void)fd;
	(void)ev;
	if (time(NULL) >= st->end) {
		event_base_loopbreak(st->base);
		return;
	}
	if (!st->waiting) {
		rc = creds_provider_get(st->p, &c, got, st, err, sizeof(err));
		if (rc == -1) {
			fprintf(stderr, "creds_get_async: %s\n", err);
			st->failed = 1;
			event_base_loopbreak(st->base);
			return;
		}
		if (rc == 0)
			seen(st, c);
		else
			st->waiting = 1;
	}
	evtimer_add(st->tick, &tv);
}

int
main(int argc, char *argv[])
{
	static const struct option	 opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "assume-role", required_argument, NULL, 'r' },
		{ "region", required_argument, NULL, 'g' },
		{ "sts-endpoint", required_argument, NULL, 'e' },
		{ "watch", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct creds_config	 cfg;
	struct creds_plan	 plan;
	struct creds_fetcher	 f;
	struct creds_async	*a;
	struct http		*h;
	struct state		 st;
	struct timeval		 now = { 0, 0 };
	char			 err[1024], *end;
	long			 seconds = 0, timeout = 5000;
	int			 ch;

	memset(&cfg, 0, sizeof(cfg));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			cfg.profile = optarg;
			break;
		case 'r':
			cfg.assume_role = optarg;
			break;
		case 'g':
			cfg.region = optarg;
			break;
		case 'e':
			cfg.sts_endpoint = optarg;
			break;
		case 'w':
			seconds = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || seconds < 0 ||
			    seconds > 3600) {
				fprintf(stderr, "creds_get_async: bad --watch\n");
				return 2;
			}
			break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || timeout <= 0 ||
			    timeout > 600000) {
				fprintf(stderr, "creds_get_async: bad "
				    "--timeout-ms\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: creds_get_async [options]\n");
			return 2;
		}
	}
	if (creds_plan_resolve(&cfg, (const char *const *)environ, &plan, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "creds_get_async: %s\n", err);
		return 1;
	}
	memset(&st, 0, sizeof(st));
	if ((st.base = event_base_new()) == NULL ||
	    (h = http_new(st.base, NULL, err, sizeof(err))) == NULL ||
	    (a = creds_async_new(st.base, h, timeout)) == NULL) {
		fprintf(stderr, "creds_get_async: setup failed\n");
		return 1;
	}
	creds_async_fetcher(a, &f);
	if ((st.p = creds_provider_new(&plan, &f, NULL)) == NULL ||
	    (st.tick = evtimer_new(st.base, tick, &st)) == NULL) {
		fprintf(stderr, "creds_get_async: out of memory\n");
		return 1;
	}
	/* Without --watch: stop after the first set. */
	st.end = time(NULL) + (seconds > 0 ? seconds : 30);
	evtimer_add(st.tick, &now);
	while (!st.failed && (seconds > 0 ? time(NULL) < st.end :
	    st.nsets == 0)) {
		if (event_base_loop(st.base, EVLOOP_ONCE) == -1)
			break;
	}
	creds_provider_free(st.p);
	event_free(st.tick);
	creds_async_free(a);
	http_free(h);
	event_base_free(st.base);
	if (!st.failed && st.nsets == 0)
		fprintf(stderr, "creds_get_async: no credentials in time\n");
	return st.failed || st.nsets == 0 ? 1 : 0;
}

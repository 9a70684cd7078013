/*
 * Resolves AWS credentials through lib/creds with the blocking fetcher, for
 * tests/integration/test_creds.py.  The chain reads this process's
 * environment; options fill the config's aws: block.
 *
 *   creds_get [--profile P] [--assume-role ARN] [--external-id ID]
 *             [--region R] [--sts-endpoint URL] [--access-key-id K
 *             --secret-access-key S] [--timeout-ms N] [--watch SECONDS]
 *
 * Prints one JSON object per credentials obtained (secrets included: this
 * is a test tool), or the error on stderr with exit status 1.  --watch
 * keeps asking the provider for SECONDS seconds and prints each new set,
 * which shows refreshes ahead of expiry.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "creds.h"
#include "creds_blocking.h"

extern char **environ;

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
		fprintf(stderr, "creds_get: out of memory\n");
		exit(1);
	}
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static long
number(const char *s, const char *what)
{
	char	*end;
	long	 v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 86400000) {
		fprintf(stderr, "creds_get: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

static int
watch(const struct creds_config *cfg, long timeout, long seconds)
{
	struct creds_plan	 plan;
	struct creds_fetcher	 f;
	struct creds_provider	*p;
	const struct creds	*c;
	struct timespec		 ts = { 0, 200 * 1000 * 1000 };
	char			 err[1024], last[256] = "";
	time_t			 end = time(NULL) + seconds;
	int			 n = 0, rc;

	if (creds_plan_resolve(cfg, (const char *const *)environ, &plan, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "creds_get: %s\n", err);
		return 1;
	}
	creds_blocking_fetcher(&f, &timeout);
	if ((p = creds_provider_new(&plan, &f, NULL)) == NULL) {
		fprintf(stderr, "creds_get: out of memory\n");
		return 1;
	}
	while (time(NULL) < end) {
		rc = creds_provider_get(p, &c, NULL, NULL, err, sizeof(err));
		if (rc == -1) {
			fprintf(stderr, "creds_get: %s\n", err);
			creds_provider_free(p);
			return 1;
		}
		if (rc == 0 && strcmp(last, c->access_key_id) != 0) {
			snprintf(last, sizeof(last), "%s", c->access_key_id);
			print_creds(creds_provider_describe(p), c);
			n++;
		}
		nanosleep(&ts, NULL);
	}
	creds_provider_free(p);
	return n > 0 ? 0 : 1;
}

int
main(int argc, char *argv[])
{
	static const struct option	 opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "assume-role", required_argument, NULL, 'r' },
		{ "external-id", required_argument, NULL, 'x' },
		{ "region", required_argument, NULL, 'g' },
		{ "sts-endpoint", required_argument, NULL, 'e' },
		{ "access-key-id", required_argument, NULL, 'a' },
		{ "secret-access-key", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "watch", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct creds_config	 cfg;
	struct creds		 c;
	char			 err[1024], desc[256];
	long			 timeout = 5000, seconds = 0;
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
		case 'x':
			cfg.external_id = optarg;
			break;
		case 'g':
			cfg.region = optarg;
			break;
		case 'e':
			cfg.sts_endpoint = optarg;
			break;
		case 'a':
			cfg.access_key_id = optarg;
			break;
		case 's':
			cfg.secret_access_key = optarg;
			break;
		case 't':
			timeout = number(optarg, "timeout");
			break;
		case 'w':
			seconds = number(optarg, "watch time");
			break;
		default:
			fprintf(stderr, "usage: creds_get [options]\n");
			return 2;
		}
	}
	if (seconds > 0)
		return watch(&cfg, timeout, seconds);
	if (creds_blocking_resolve(&cfg, (const char *const *)environ, timeout,
	    &c, desc, sizeof(desc), err, sizeof(err)) == -1) {
		fprintf(stderr, "creds_get: %s\n", err);
		return 1;
	}
	print_creds(desc, &c);
	creds_clear(&c);
	return 0;
}

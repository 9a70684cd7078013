/*
 * The benchmark's floor: the same signed KMS requests keyhealthd makes
 * for a key check (DescribeKey + GetKeyPolicy), over kept-alive
 * connections with libcurl's multi interface, and nothing else: no JSON
 * parsing, no checks, no state, no alerts.  What any implementation must
 * pay per key check.
 *
 *	floor -e URL -k KEYFILE [-c CONNS] [-s SWEEPS] [-w WARMUP]
 *
 * KEYFILE holds one key ARN per line.  Credentials from
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.  A warm-up of WARMUP keys
 * (connections, TLS-free here, curl's caches), then SWEEPS sweeps over all
 * keys.  Writes one JSON line per event on stdout, flushed, so that the
 * harness can sample the emulator's CPU at the same moments:
 *
 *	{"event": "start", "sweep": 1}
 *	{"event": "end", "sweep": 1, "wall": s, "cpu": s, "requests": n,
 *	 "errors": n}
 *	{"event": "done", "hwm_kib": n, "anon_kib": n}
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#include "sigv4.h"

#define FLOOR_MAX_CONNS	64
#define FLOOR_BODY_MAX	1024

struct floor_slot {
	CURL			*e;
	char			 body[FLOOR_BODY_MAX];
	size_t			 bodylen;
	char			 target[64];	/* signed value */
	char			 target_hdr[96];	/* the same, as sent */
	char			 date_hdr[64];
	char			 auth_hdr[SIGV4_AUTH_MAX + 32];
	struct curl_slist	 hdrs[5];	/* ours, no allocation */
	char			*resp;
	size_t			 resplen, respcap;
};

static char			**floor_arns, **floor_regions;
static size_t			  floor_nkeys;
static const char		 *floor_url;
static char			  floor_host[256];
static struct sigv4_creds	  floor_creds;
static struct sigv4_keycache	  floor_cache;
static char			  floor_ct[] =
    "Content-Type: application/x-amz-json-1.1";
static char			  floor_expect[] = "Expect:";

static double
floor_now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
floor_cpu(void)
{
	struct rusage	ru;

	(void)getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A "Name:   N kB" line of /proc/self/status, in KiB; -1 if absent. */
static long
floor_status_kib(const char *name)
{
	FILE	*f;
	char	 line[256];
	long	 v = -1;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, strlen(name)) == 0 &&
		    line[strlen(name)] == ':')
			v = strtol(line + strlen(name) + 1, NULL, 10);
	fclose(f);
	return v;
}

static size_t
floor_write_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct floor_slot	*s = arg;
	size_t			 len = sz * n;

	if (s->resplen + len + 1 > s->respcap) {
		size_t	 cap = (s->resplen + len + 1) * 2;
		char	*r = realloc(s->resp, cap);

		if (r == NULL)
			return 0;
		s->resp = r;
		s->respcap = cap;
	}
	memcpy(s->resp + s->resplen, p, len);
	s->resplen += len;
	return len;
}

/* Request r of a sweep: key r / 2, DescribeKey when even, else
 * GetKeyPolicy.  Signed now, exactly as keyhealthd signs it. */
static int
floor_prepare(struct floor_slot *s, size_t key, int policy)
{
	struct sigv4_header	sh[3];
	struct sigv4_request	req;
	char			auth[SIGV4_AUTH_MAX], amzdate[SIGV4_AMZDATE_LEN];
	char			err[256];
	int			n;

	if (policy)
		n = snprintf(s->body, sizeof(s->body),
		    "{\"KeyId\": \"%s\", \"PolicyName\": \"default\"}",
		    floor_arns[key]);
	else
		n = snprintf(s->body, sizeof(s->body), "{\"KeyId\": \"%s\"}",
		    floor_arns[key]);
	if (n < 0 || (size_t)n >= sizeof(s->body))
		return -1;
	s->bodylen = (size_t)n;
	(void)snprintf(s->target, sizeof(s->target), "TrentService.%s",
	    policy ? "GetKeyPolicy" : "DescribeKey");
	sh[0].name = "host";
	sh[0].value = floor_host;
	sh[1].name = "content-type";
	sh[1].value = "application/x-amz-json-1.1";
	sh[2].name = "x-amz-target";
	sh[2].value = s->target;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/";
	req.headers = sh;
	req.nheaders = 3;
	req.body = s->body;
	req.bodylen = s->bodylen;
	if (sigv4_sign(&req, &floor_creds, floor_regions[key], "kms",
	    time(NULL), &floor_cache, auth, sizeof(auth), amzdate, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "floor: sign: %s\n", err);
		return -1;
	}
	(void)snprintf(s->target_hdr, sizeof(s->target_hdr),
	    "X-Amz-Target: %s", s->target);
	(void)snprintf(s->date_hdr, sizeof(s->date_hdr), "X-Amz-Date: %s",
	    amzdate);
	(void)snprintf(s->auth_hdr, sizeof(s->auth_hdr), "Authorization: %s",
	    auth);
	/* Reuses the slot's header strings: no allocation per request. */
	s->hdrs[0].data = floor_ct;
	s->hdrs[0].next = &s->hdrs[1];
	s->hdrs[1].data = s->target_hdr;
	s->hdrs[1].next = &s->hdrs[2];
	s->hdrs[2].data = s->date_hdr;
	s->hdrs[2].next = &s->hdrs[3];
	s->hdrs[3].data = s->auth_hdr;
	s->hdrs[3].next = &s->hdrs[4];
	s->hdrs[4].data = floor_expect;
	s->hdrs[4].next = NULL;
	s->resplen = 0;
	(void)curl_easy_setopt(s->e, CURLOPT_POSTFIELDS, s->body);
	(void)curl_easy_setopt(s->e, CURLOPT_POSTFIELDSIZE, (long)s->bodylen);
	(void)curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, s->hdrs);
	return 0;
}

/* One pass over keys [0, nkeys) with conns requests in flight. */
static int
floor_sweep(CURLM *m, struct floor_slot *slots, int conns, size_t nkeys,
    size_t *requests, size_t *errors)
{
	size_t	next = 0, total = nkeys * 2, done = 0;
	int	i, running;

	for (i = 0; i < conns && next < total; i++, next++) {
		if (floor_prepare(&slots[i], next / 2, (int)(next % 2)) == -1)
			return -1;
		(void)curl_easy_setopt(slots[i].e, CURLOPT_PRIVATE,
		    (void *)(uintptr_t)i);
		curl_multi_add_handle(m, slots[i].e);
	}
	while (done < total) {
		CURLMsg	*msg;
		int	 left;

		if (curl_multi_perform(m, &running) != CURLM_OK)
			return -1;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			void		*priv = NULL;
			long		 status = 0;
			int		 si;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_PRIVATE, &priv);
			si = (int)(uintptr_t)priv;
			(void)curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &status);
			(*requests)++;
			if (msg->data.result != CURLE_OK || status != 200)
				(*errors)++;
			done++;
			curl_multi_remove_handle(m, msg->easy_handle);
			if (next < total) {
				if (floor_prepare(&slots[si], next / 2,
				    (int)(next % 2)) == -1)
					return -1;
				next++;
				curl_multi_add_handle(m, slots[si].e);
			}
		}
		if (done < total &&
		    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			return -1;
	}
	return 0;
}

static int
floor_load_keys(const char *path)
{
	FILE	*f;
	char	 line[512];
	size_t	 cap = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char	*nl, *p, *q;

		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if (line[0] == '\0')
			continue;
		if (floor_nkeys == cap) {
			cap = cap ? cap * 2 : 1024;
			floor_arns = realloc(floor_arns, cap * sizeof(char *));
			floor_regions = realloc(floor_regions,
			    cap * sizeof(char *));
			if (floor_arns == NULL || floor_regions == NULL)
				goto fail;
		}
		/* arn:aws:kms:REGION:ACCOUNT:key/ID */
		p = line;
		for (int i = 0; i < 3 && p != NULL; i++)
			if ((p = strchr(p, ':')) != NULL)
				p++;
		if (p == NULL || (q = strchr(p, ':')) == NULL) {
			fprintf(stderr, "floor: not a key ARN: %s\n", line);
			goto fail;
		}
		if ((floor_arns[floor_nkeys] = strdup(line)) == NULL ||
		    (floor_regions[floor_nkeys] = strndup(p,
		    (size_t)(q - p))) == NULL)
			goto fail;
		floor_nkeys++;
	}
	fclose(f);
	return floor_nkeys > 0 ? 0 : -1;
fail:
	fclose(f);
	return -1;
}

int
main(int argc, char **argv)
{
	struct floor_slot	 slots[FLOOR_MAX_CONNS];
	const char		*keyfile = NULL, *p;
	CURLM			*m;
	int			 ch, conns = 8, sweeps = 1, i;
	long			 warmup = 100;
	size_t			 hl;

	while ((ch = getopt(argc, argv, "c:e:k:s:w:")) != -1) {
		switch (ch) {
		case 'c':
			conns = (int)strtol(optarg, NULL, 10);
			break;
		case 'e':
			floor_url = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 's':
			sweeps = (int)strtol(optarg, NULL, 10);
			break;
		case 'w':
			warmup = strtol(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (floor_url == NULL || keyfile == NULL || conns < 1 ||
	    conns > FLOOR_MAX_CONNS || sweeps < 1 || warmup < 0)
		goto usage;
	if (strncmp(floor_url, "http://", 7) != 0) {
		fprintf(stderr, "floor: only http:// endpoints\n");
		return 1;
	}
	p = floor_url + 7;
	hl = strcspn(p, "/");
	if (hl == 0 || hl >= sizeof(floor_host))
		goto usage;
	memcpy(floor_host, p, hl);
	floor_host[hl] = '\0';
	floor_creds.access_key = getenv("AWS_ACCESS_KEY_ID");
	floor_creds.secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	floor_creds.session_token = getenv("AWS_SESSION_TOKEN");
	if (floor_creds.access_key == NULL || floor_creds.secret_key == NULL) {
		fprintf(stderr, "floor: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY\n");
		return 1;
	}
	if (floor_creds.session_token != NULL) {
		fprintf(stderr, "floor: session tokens are not supported\n");
		return 1;
	}
	if (floor_load_keys(keyfile) == -1) {
		fprintf(stderr, "floor: no keys in %s\n", keyfile);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (m = curl_multi_init()) == NULL)
		return 1;
	(void)curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
	memset(slots, 0, sizeof(slots));
	for (i = 0; i < conns; i++) {
		if ((slots[i].e = curl_easy_init()) == NULL)
			return 1;
		(void)curl_easy_setopt(slots[i].e, CURLOPT_URL, floor_url);
		(void)curl_easy_setopt(slots[i].e, CURLOPT_WRITEFUNCTION,
		    floor_write_cb);
		(void)curl_easy_setopt(slots[i].e, CURLOPT_WRITEDATA,
		    &slots[i]);
		(void)curl_easy_setopt(slots[i].e, CURLOPT_NOSIGNAL, 1L);
		(void)curl_easy_setopt(slots[i].e, CURLOPT_TIMEOUT_MS, 15000L);
	}
	if (warmup > 0) {
		size_t	r = 0, e = 0;

		if (floor_sweep(m, slots, conns, (size_t)warmup < floor_nkeys ?
		    (size_t)warmup : floor_nkeys, &r, &e) == -1)
			return 1;
		printf("{\"event\": \"warmup\", \"requests\": %zu, "
		    "\"errors\": %zu}\n", r, e);
		fflush(stdout);
	}
	for (i = 1; i <= sweeps; i++) {
		size_t	r = 0, e = 0;
		double	t0, c0;

		printf("{\"event\": \"start\", \"sweep\": %d}\n", i);
		fflush(stdout);
		t0 = floor_now();
		c0 = floor_cpu();
		if (floor_sweep(m, slots, conns, floor_nkeys, &r, &e) == -1)
			return 1;
		printf("{\"event\": \"end\", \"sweep\": %d, \"wall\": %.6f, "
		    "\"cpu\": %.6f, \"requests\": %zu, \"errors\": %zu}\n", i,
		    floor_now() - t0, floor_cpu() - c0, r, e);
		fflush(stdout);
	}
	printf("{\"event\": \"done\", \"hwm_kib\": %ld, \"anon_kib\": %ld}\n",
	    floor_status_kib("VmHWM"), floor_status_kib("RssAnon"));
	fflush(stdout);
	for (i = 0; i < conns; i++) {
		curl_easy_cleanup(slots[i].e);
		free(slots[i].resp);
	}
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return 0;
usage:
	fprintf(stderr, "usage: floor -e URL -k KEYFILE [-c CONNS] "
	    "[-s SWEEPS] [-w WARMUP]\n");
	return 2;
}

/*
 * kms_call: runs KMS operations through lib/kms on a libevent loop and
 * prints each result as a JSON line, then a summary line.  For the
 * integration tests; credentials come from AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
 *
 *   kms_call --endpoint URL --region R --op DescribeKey --key-id ID ...
 *       [--keys-file FILE] [--count N] [--account A] [--concurrency N]
 *       [--rate R] [--burst B] [--max-attempts N] [--backoff-base MS]
 *       [--backoff-cap MS] [--timeout MS] [--connect-timeout MS]
 *       [--max-body BYTES] [--clock-offset S] [--quiet] [-v]
 *
 * Exit: 0 all succeeded, 1 some failed, 2 usage or set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "http.h"
#include "kms.h"
#include "kms_keystore.h"
#include "kms_material.h"
#include "log.h"

struct run {
	struct event_base	*base;
	struct kms_client	*kms;
	struct http		*http;
	size_t			 total;
	size_t			 done;
	size_t			 ok;
	size_t			 max_wire;
	size_t			 max_http;
	size_t			 byclass[KMS_ERR_OTHER + 1];
	int			 quiet;
};

static void
usage(void)
{
	fprintf(stderr, "usage: kms_call --endpoint URL --region R --op OP "
	    "[--key-id ID]... [--keys-file FILE] [--count N] [--account A]\n"
	    "    [--concurrency N] [--rate R] [--burst B] [--max-attempts N]\n"
	    "    [--backoff-base MS] [--backoff-cap MS] [--timeout MS]\n"
	    "    [--connect-timeout MS] [--max-body BYTES] [--clock-offset S]\n"
	    "    [--quiet] [-v]\n");
	exit(2);
}

static long
num(const char *s, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "kms_call: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static double
dnum(const char *s, const char *what)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0') {
		fprintf(stderr, "kms_call: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static int
env_creds(void *arg, struct sigv4_creds *out, char *err, size_t errlen)
{
	(void)arg;
	out->access_key = getenv("AWS_ACCESS_KEY_ID");
	out->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	out->session_token = getenv("AWS_SESSION_TOKEN");
	if (out->access_key == NULL || out->secret_key == NULL) {
		snprintf(err, errlen, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
		    "not set");
		return -1;
	}
	return 0;
}

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
meta_json(const struct kms_key_meta *m)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:b,s:b,s:f,s:f,s:f,s:i}",
	    "KeyId", jstr(m->key_id), "Arn", jstr(m->arn),
	    "AWSAccountId", jstr(m->account), "KeyState", jstr(m->state),
	    "KeySpec", jstr(m->key_spec), "KeyUsage", jstr(m->key_usage),
	    "KeyManager", jstr(m->key_manager), "Origin", jstr(m->origin),
	    "ExpirationModel", jstr(m->expiration_model),
	    "CurrentKeyMaterialId", jstr(m->current_key_material_id),
	    "CustomKeyStoreId", jstr(m->custom_key_store_id),
	    "MultiRegionKeyType", jstr(m->multi_region_type),
	    "Description", jstr(m->description),
	    "Enabled", m->enabled, "MultiRegion", m->multi_region,
	    "CreationDate", m->creation_date,
	    "DeletionDate", m->deletion_date, "ValidTo", m->valid_to,
	    "PendingDeletionWindowInDays", m->pending_window_days);
}

static void
sample(struct run *r)
{
	size_t	n = kms_client_inflight(r->kms), h = http_inflight(r->http);

	if (n > r->max_wire)
		r->max_wire = n;
	if (h > r->max_http)
		r->max_http = h;
}

static void
sample_cb(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	sample(arg);
}

struct call {
	struct run	*run;
	char		*key_id;
};

static void
result_cb(struct kms_result *res, void *arg)
{
	struct call	*call = arg;
	struct run	*r = call->run;
	json_t		*o, *a;
	char		*s;
	size_t		 i;

	sample(r);
	r->done++;
	r->byclass[res->err.cls]++;
	if (res->err.cls == KMS_OK)
		r->ok++;
	if (!r->quiet) {
		o = json_pack("{s:s,s:o,s:b,s:s,s:s,s:s,s:I,s:i,s:b,s:f}",
		    "op", kms_op_name(res->op), "key_id", jstr(call->key_id),
		    "ok", res->err.cls == KMS_OK,
		    "class", kms_errclass_name(res->err.cls),
		    "code", res->err.code, "message", res->err.message,
		    "status", (json_int_t)res->err.status,
		    "attempts", res->err.attempts,
		    "retryable", res->err.retryable,
		    "elapsed", res->elapsed);
		if (res->err.cls == KMS_OK) {
			switch (res->op) {
			case KMS_OP_DESCRIBE_KEY:
				json_object_set_new(o, "meta",
				    meta_json(&res->meta));
				break;
			case KMS_OP_GET_KEY_POLICY:
				json_object_set_new(o, "policy",
				    jstr(res->policy));
				break;
			case KMS_OP_GET_KEY_ROTATION_STATUS:
				json_object_set_new(o, "rotation", json_pack(
				    "{s:b,s:i,s:f}", "enabled",
				    res->rotation.enabled, "period_days",
				    res->rotation.period_days, "next_rotation",
				    res->rotation.next_rotation));
				break;
			case KMS_OP_LIST_ALIASES:
				a = json_array();
				for (i = 0; i < res->naliases; i++)
					json_array_append_new(a, json_pack(
					    "{s:o,s:o,s:o}", "AliasName",
					    jstr(res->aliases[i].name),
					    "AliasArn",
					    jstr(res->aliases[i].arn),
					    "TargetKeyId",
					    jstr(res->aliases[i].target_key_id)));
				json_object_set_new(o, "aliases", a);
				break;
			case KMS_OP_LIST_GRANTS:
				json_object_set_new(o, "grants",
				    json_integer((json_int_t)res->ngrants));
				break;
			case KMS_OP_LIST_KEYS:
				a = json_array();
				for (i = 0; i < res->nkeys; i++)
					json_array_append_new(a, json_pack(
					    "{s:o,s:o}", "KeyId",
					    jstr(res->keys[i].key_id), "KeyArn",
					    jstr(res->keys[i].arn)));
				json_object_set_new(o, "keys", a);
				break;
			case KMS_OP_LIST_KEY_ROTATIONS:
				json_object_set_new(o, "materials",
				    json_integer(res->materials != NULL ?
				    (json_int_t)res->materials->n : 0));
				break;
			case KMS_OP_DESCRIBE_CUSTOM_KEY_STORES:
				json_object_set_new(o, "connection_state",
				    jstr(res->keystore != NULL ?
				    res->keystore->state : NULL));
				break;
			}
		}
		if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
		json_decref(o);
	}
	free(call->key_id);
	free(call);
	if (r->done == r->total)
		event_base_loopbreak(r->base);
}

static int
parse_op(const char *s, enum kms_op *op)
{
	static const enum kms_op ops[] = { KMS_OP_DESCRIBE_KEY,
	    KMS_OP_GET_KEY_POLICY, KMS_OP_GET_KEY_ROTATION_STATUS,
	    KMS_OP_LIST_ALIASES, KMS_OP_LIST_GRANTS, KMS_OP_LIST_KEYS,
	    KMS_OP_LIST_KEY_ROTATIONS, KMS_OP_DESCRIBE_CUSTOM_KEY_STORES };
	size_t	i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(s, kms_op_name(ops[i])) == 0) {
			*op = ops[i];
			return 0;
		}
	return -1;
}

static int
start(struct kms_client *c, const struct kms_target *t, enum kms_op op,
    const char *key, struct call *call, char *err, size_t errlen)
{
	switch (op) {
	case KMS_OP_DESCRIBE_KEY:
		return kms_describe_key(c, t, key, result_cb, call, err, errlen);
	case KMS_OP_GET_KEY_POLICY:
		return kms_get_key_policy(c, t, key, result_cb, call, err,
		    errlen);
	case KMS_OP_GET_KEY_ROTATION_STATUS:
		return kms_get_key_rotation_status(c, t, key, result_cb, call,
		    err, errlen);
	case KMS_OP_LIST_ALIASES:
		return kms_list_aliases(c, t, key, result_cb, call, err, errlen);
	case KMS_OP_LIST_GRANTS:
		return kms_list_grants(c, t, key, result_cb, call, err, errlen);
	case KMS_OP_LIST_KEYS:
		return kms_list_keys(c, t, result_cb, call, err, errlen);
	case KMS_OP_LIST_KEY_ROTATIONS:
		return kms_list_key_rotations(c, t, key, result_cb, call, err,
		    errlen);
	case KMS_OP_DESCRIBE_CUSTOM_KEY_STORES:
		return kms_describe_custom_key_store(c, t, key, result_cb, call,
		    err, errlen);
	}
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "account", required_argument, NULL, 'a' },
		{ "op", required_argument, NULL, 'o' },
		{ "key-id", required_argument, NULL, 'k' },
		{ "keys-file", required_argument, NULL, 'K' },
		{ "count", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'R' },
		{ "burst", required_argument, NULL, 'B' },
		{ "max-attempts", required_argument, NULL, 'm' },
		{ "backoff-base", required_argument, NULL, 'b' },
		{ "backoff-cap", required_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 't' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "max-body", required_argument, NULL, 'M' },
		{ "clock-offset", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct run		 r;
	struct kms_opts		 ko;
	struct http_opts	 ho;
	struct kms_target	 t;
	struct keyid		 id;
	struct timespec		 t0, t1;
	struct event		*ev;
	struct timeval		 tv = { 0, 1000 };
	char			**keys = NULL, line[4096], err[512];
	size_t			 nkeys = 0, i, len;
	long			 count = 1, n;
	double			 offset = 0, elapsed;
	enum kms_op		 op = KMS_OP_DESCRIBE_KEY;
	const char		*endpoint = NULL, *region = NULL;
	int			 ch, verbose = 0, have_op = 0, have_offset = 0;
	FILE			*f;
	struct call		*call;

	memset(&r, 0, sizeof(r));
	memset(&ko, 0, sizeof(ko));
	memset(&ho, 0, sizeof(ho));
	memset(&t, 0, sizeof(t));
	memset(&id, 0, sizeof(id));
	t.id = &id;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			endpoint = optarg;
			break;
		case 'r':
			region = optarg;
			break;
		case 'a':
			id.account = optarg;
			break;
		case 'o':
			if (parse_op(optarg, &op) == -1) {
				fprintf(stderr, "kms_call: unknown op %s\n",
				    optarg);
				return 2;
			}
			have_op = 1;
			break;
		case 'k':
			keys = reallocarray(keys, nkeys + 1, sizeof(*keys));
			keys[nkeys++] = strdup(optarg);
			break;
		case 'K':
			if ((f = fopen(optarg, "r")) == NULL) {
				perror(optarg);
				return 2;
			}
			while (fgets(line, sizeof(line), f) != NULL) {
				len = strcspn(line, "\r\n");
				line[len] = '\0';
				if (len == 0)
					continue;
				keys = reallocarray(keys, nkeys + 1,
				    sizeof(*keys));
				keys[nkeys++] = strdup(line);
			}
			fclose(f);
			break;
		case 'n':
			count = num(optarg, "count");
			break;
		case 'c':
			ko.max_inflight = (int)num(optarg, "concurrency");
			break;
		case 'R':
			ko.rate_per_second = dnum(optarg, "rate");
			break;
		case 'B':
			ko.burst = dnum(optarg, "burst");
			break;
		case 'm':
			ko.max_attempts = (int)num(optarg, "max-attempts");
			break;
		case 'b':
			ko.backoff_base_ms = num(optarg, "backoff-base");
			break;
		case 'C':
			ko.backoff_cap_ms = num(optarg, "backoff-cap");
			break;
		case 't':
			ho.timeout_ms = num(optarg, "timeout");
			break;
		case 'T':
			ho.connect_timeout_ms = num(optarg, "connect-timeout");
			break;
		case 'M':
			ho.max_body = (size_t)num(optarg, "max-body");
			break;
		case 'S':
			offset = dnum(optarg, "clock-offset");
			have_offset = 1;
			break;
		case 'q':
			r.quiet = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (endpoint == NULL || region == NULL || !have_op ||
	    (nkeys == 0 && op != KMS_OP_LIST_ALIASES &&
	    op != KMS_OP_LIST_KEYS))
		usage();
	if (nkeys == 0) {
		keys = calloc(1, sizeof(*keys));
		nkeys = 1;
	}
	log_init(LOG_TO_STDERR, verbose, "kms_call");
	if ((r.base = event_base_new()) == NULL ||
	    (r.http = http_new(r.base, &ho, err, sizeof(err))) == NULL ||
	    (r.kms = kms_client_new(r.base, r.http, &ko, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "kms_call: %s\n", err);
		return 2;
	}
	if (have_offset)
		kms_client_set_clock_skew(r.kms, offset);
	id.region = region;
	t.endpoint = endpoint;
	t.get_creds = env_creds;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = 0; n < count; n++)
		for (i = 0; i < nkeys; i++) {
			call = calloc(1, sizeof(*call));
			call->run = &r;
			call->key_id = keys[i] ? strdup(keys[i]) : NULL;
			if (start(r.kms, &t, op, keys[i], call, err,
			    sizeof(err)) == -1) {
				fprintf(stderr, "kms_call: %s\n", err);
				return 2;
			}
			r.total++;
		}
	ev = event_new(r.base, -1, EV_PERSIST, sample_cb, &r);
	event_add(ev, &tv);
	if (r.total > 0)
		event_base_dispatch(r.base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed = (double)(t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9;
	{
		json_t	*errs = json_object(), *o;
		char	*s;
		int	 c;

		for (c = KMS_OK + 1; c <= KMS_ERR_OTHER; c++)
			if (r.byclass[c] > 0)
				json_object_set_new(errs,
				    kms_errclass_name((enum kms_errclass)c),
				    json_integer((json_int_t)r.byclass[c]));
		o = json_pack("{s:{s:I,s:I,s:o,s:f,s:f,s:I,s:I,s:f}}",
		    "summary", "total", (json_int_t)r.total,
		    "ok", (json_int_t)r.ok, "errors", errs,
		    "elapsed", elapsed,
		    "rps", elapsed > 0 ? r.total / elapsed : 0.0,
		    "max_inflight", (json_int_t)r.max_wire,
		    "max_http_inflight", (json_int_t)r.max_http,
		    "clock_skew", kms_client_clock_skew(r.kms));
		s = json_dumps(o, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(o);
	}
	fflush(stdout);
	event_free(ev);
	kms_client_free(r.kms);
	http_free(r.http);
	event_base_free(r.base);
	for (i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	libevent_global_shutdown();
	return r.ok == r.total ? 0 : 1;
}

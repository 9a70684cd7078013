/*
 * lib/config: the schema of keyhealthd.yaml(5), defaults, and errors that
 * name the offending node's FILE:LINE:COLUMN, all of a file in one run.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "notify.h"
#include "policy.h"
#include "vendor.h"
#include "ynode.h"

#define KEY1	"arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab"
#define KEY2	"arn:aws:kms:us-west-2:444455556666:key/" \
		"mrk-0123456789abcdef0123456789abcdef"
#define KEYS1	"keys:\n  - arn: " KEY1 "\n"

static struct config *
load(const char *text, struct config_errors *errs)
{
	return config_load_buffer("t.yaml", text, strlen(text), errs);
}

static struct config *
load_ok(const char *text)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg = load(text, &errs);

	ck_assert_msg(cfg != NULL, "unexpected error: %s",
	    errs.n > 0 ? errs.msgs[0] : "?");
	ck_assert_uint_eq(errs.total, 0);
	config_errors_free(&errs);
	return cfg;
}

/* The text must fail with exactly this one error. */
static void
one_error(const char *text, const char *want)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg = load(text, &errs);
	size_t			 i;

	ck_assert_ptr_null(cfg);
	for (i = 0; errs.n != 1 && i < errs.n; i++)
		fprintf(stderr, "  got: %s\n", errs.msgs[i]);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0], want);
	config_errors_free(&errs);
}

/* ---- defaults and values ---- */

START_TEST(test_config_defaults_with_only_a_key)
{
	struct config	*cfg;

	unsetenv("STATE_DIRECTORY");
	cfg = load_ok(KEYS1);
	ck_assert_int_eq(cfg->interval, 300);
	ck_assert_int_eq(cfg->slow_interval, 3600);
	ck_assert_int_eq(cfg->grants_interval, 3600);
	ck_assert_int_eq(config_key_grants_interval(cfg, &cfg->keys[0]),
	    3600);
	ck_assert_int_eq(cfg->renotify, 4 * 3600);
	ck_assert_str_eq(cfg->state_dir, "/var/lib/keyhealthd");
	ck_assert_ptr_null(cfg->aws.profile);
	ck_assert_ptr_null(cfg->aws.endpoint_url);
	ck_assert_int_eq(cfg->aws.use_fips, 0);
	ck_assert_int_eq(cfg->aws.allow_http, 0);
	ck_assert_ptr_null(cfg->http.listen);
	ck_assert_int_eq(cfg->http.max_connections, 64);
	ck_assert_int_eq(cfg->kms.connect_timeout, 5);
	ck_assert_int_eq(cfg->kms.timeout, 15);
	ck_assert_int_eq(cfg->kms.max_attempts, 4);
	ck_assert(cfg->kms.rate_limit == 10.0);
	ck_assert_int_eq(cfg->kms.max_inflight, 16);
	ck_assert_int_eq(cfg->alerts.fire_after, 1);
	ck_assert_int_eq(cfg->alerts.resolve_after, 1);
	ck_assert_int_eq(cfg->alerts.material_expiry_warning, 30 * 86400);
	ck_assert_uint_eq(cfg->nkeys, 1);
	ck_assert_uint_eq(cfg->nnotifiers, 0);
	ck_assert_str_eq(cfg->path, "t.yaml");
	config_free(cfg);
}
END_TEST

START_TEST(test_config_state_dir_takes_first_of_STATE_DIRECTORY)
{
	struct config	*cfg;

	setenv("STATE_DIRECTORY", "/var/lib/keyhealthd-x:/var/lib/other", 1);
	cfg = load_ok(KEYS1);
	ck_assert_str_eq(cfg->state_dir, "/var/lib/keyhealthd-x");
	config_free(cfg);
	cfg = load_ok("state_dir: /srv/kh\n" KEYS1);
	ck_assert_str_eq(cfg->state_dir, "/srv/kh");
	config_free(cfg);
	unsetenv("STATE_DIRECTORY");
}
END_TEST

START_TEST(test_config_every_global_key_is_read)
{
	struct config	*cfg = load_ok(
	    "interval: 1m\n"
	    "slow_interval: 2h\n"
	    "renotify: 1h30m\n"
	    "state_dir: /srv/keyhealthd\n"
	    "aws:\n"
	    "  profile: prod\n"
	    "  region: eu-west-1\n"
	    "  endpoint_url: http://127.0.0.1:4566\n"
	    "  sts_endpoint_url: https://sts.eu-west-1.amazonaws.com\n"
	    "  assume_role: arn:aws:iam::111122223333:role/keyhealthd-ro\n"
	    "  ca_file: /etc/ssl/certs/ca-certificates.crt\n"
	    "  use_fips: true\n"
	    "  allow_http: false\n"
	    "http:\n"
	    "  listen: 127.0.0.1:9464\n"
	    "  max_connections: 8\n"
	    "kms:\n"
	    "  connect_timeout: 3s\n"
	    "  timeout: 20s\n"
	    "  max_attempts: 6\n"
	    "  rate_limit: 2.5\n"
	    "  max_inflight: 4\n"
	    "alerts:\n"
	    "  fire_after: 2\n"
	    "  resolve_after: 3\n"
	    "  material_expiry_warning: 14d\n"
	    KEYS1
	    "notifiers:\n"
	    "  - type: journald\n");

	ck_assert_int_eq(cfg->interval, 60);
	ck_assert_int_eq(cfg->slow_interval, 7200);
	ck_assert_int_eq(cfg->renotify, 5400);
	ck_assert_str_eq(cfg->state_dir, "/srv/keyhealthd");
	ck_assert_str_eq(cfg->aws.profile, "prod");
	ck_assert_str_eq(cfg->aws.region, "eu-west-1");
	ck_assert_str_eq(cfg->aws.endpoint_url, "http://127.0.0.1:4566");
	ck_assert_str_eq(cfg->aws.sts_endpoint_url,
	    "https://sts.eu-west-1.amazonaws.com");
	ck_assert_str_eq(cfg->aws.assume_role,
	    "arn:aws:iam::111122223333:role/keyhealthd-ro");
	ck_assert_str_eq(cfg->aws.ca_file,
	    "/etc/ssl/certs/ca-certificates.crt");
	ck_assert_int_eq(cfg->aws.use_fips, 1);
	ck_assert_int_eq(cfg->aws.allow_http, 0);
	ck_assert_str_eq(cfg->http.listen, "127.0.0.1:9464");
	ck_assert_str_eq(cfg->http.host, "127.0.0.1");
	ck_assert_int_eq(cfg->http.port, 9464);
	ck_assert_int_eq(cfg->http.max_connections, 8);
	ck_assert_int_eq(cfg->kms.connect_timeout, 3);
	ck_assert_int_eq(cfg->kms.timeout, 20);
	ck_assert_int_eq(cfg->kms.max_attempts, 6);
	ck_assert(cfg->kms.rate_limit == 2.5);
	ck_assert_int_eq(cfg->kms.max_inflight, 4);
	ck_assert_int_eq(cfg->alerts.fire_after, 2);
	ck_assert_int_eq(cfg->alerts.resolve_after, 3);
	ck_assert_int_eq(cfg->alerts.material_expiry_warning, 14 * 86400);
	/* Loaded without CONFIG_LOAD_NOTIFIERS: lib/notify's part. */
	ck_assert_uint_eq(cfg->nnotifiers, 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_every_key_field_is_read)
{
	struct config		*cfg = load_ok(
	    "keys:\n"
	    "  - arn: " KEY1 "\n"
	    "    name: gearset-eu\n"
	    "    vendor: gearset\n"
	    "    alias: alias/gearset-backup\n"
	    "    interval: 1m\n"
	    "    expect_rotation: true\n"
	    "    aws:\n"
	    "      profile: other\n"
	    "      assume_role: arn:aws:iam::111122223333:role/ro\n");
	const struct config_key	*k = &cfg->keys[0];

	ck_assert_str_eq(k->arn, KEY1);
	ck_assert_str_eq(k->parsed.region, "eu-west-1");
	ck_assert_str_eq(k->parsed.account, "111122223333");
	ck_assert_int_eq(k->parsed.kind, ARN_KMS_KEY);
	ck_assert_str_eq(k->name, "gearset-eu");
	ck_assert_str_eq(k->vendor_name, "gearset");
	ck_assert_ptr_nonnull(k->vendor);
	ck_assert_str_eq(k->vendor->name, "gearset");
	ck_assert_str_eq(k->alias, "alias/gearset-backup");
	ck_assert_int_eq(k->interval, 60);
	ck_assert_int_eq(k->expect_rotation, 1);
	ck_assert_str_eq(k->aws.profile, "other");
	ck_assert_int_eq(k->line, 2);
	ck_assert_int_eq(k->column, 5);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_key_name_defaults_to_key_id)
{
	struct config	*cfg = load_ok(KEYS1);

	ck_assert_str_eq(cfg->keys[0].name,
	    "1234abcd-12ab-34cd-56ef-1234567890ab");
	ck_assert_ptr_null(cfg->keys[0].vendor);
	ck_assert_ptr_null(cfg->keys[0].vendor_name);
	ck_assert_ptr_null(cfg->keys[0].alias);
	ck_assert_int_eq(cfg->keys[0].expect_rotation, 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_per_key_overrides_merge_with_global)
{
	struct config		*cfg = load_ok(
	    "interval: 10m\n"
	    "aws:\n"
	    "  profile: prod\n"
	    "  region: eu-west-1\n"
	    "  use_fips: true\n"
	    "keys:\n"
	    "  - arn: " KEY1 "\n"
	    "  - arn: " KEY2 "\n"
	    "    interval: 30s\n"
	    "    aws:\n"
	    "      assume_role: arn:aws:iam::444455556666:role/ro\n"
	    "      use_fips: false\n");
	struct config_aws	 a;

	ck_assert_int_eq(config_key_interval(cfg, &cfg->keys[0]), 600);
	ck_assert_int_eq(config_key_interval(cfg, &cfg->keys[1]), 30);
	config_key_aws(cfg, &cfg->keys[0], &a);
	ck_assert_str_eq(a.profile, "prod");
	ck_assert_ptr_null(a.assume_role);
	ck_assert_int_eq(a.use_fips, 1);
	config_key_aws(cfg, &cfg->keys[1], &a);
	ck_assert_str_eq(a.profile, "prod");
	ck_assert_str_eq(a.region, "eu-west-1");
	ck_assert_str_eq(a.assume_role, "arn:aws:iam::444455556666:role/ro");
	ck_assert_int_eq(a.use_fips, 0);
	ck_assert_int_eq(a.allow_http, 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_key_find_by_name_or_arn)
{
	struct config	*cfg = load_ok("keys:\n  - arn: " KEY1 "\n"
	    "    name: eu\n  - arn: " KEY2 "\n");

	ck_assert_ptr_eq(config_key_find(cfg, "eu"), &cfg->keys[0]);
	ck_assert_ptr_eq(config_key_find(cfg, KEY2), &cfg->keys[1]);
	ck_assert_ptr_null(config_key_find(cfg, "nope"));
	config_free(cfg);
}
END_TEST

START_TEST(test_config_alias_arn_is_reduced_to_alias_name)
{
	struct config	*cfg = load_ok("keys:\n  - arn: " KEY1 "\n"
	    "    alias: arn:aws:kms:eu-west-1:111122223333:alias/backup\n");

	ck_assert_str_eq(cfg->keys[0].alias, "alias/backup");
	config_free(cfg);
}
END_TEST

START_TEST(test_config_http_listen_ipv6)
{
	struct config	*cfg = load_ok("http:\n  listen: \"[::1]:9464\"\n"
	    KEYS1);

	ck_assert_str_eq(cfg->http.host, "::1");
	ck_assert_int_eq(cfg->http.port, 9464);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_http_to_loopback_needs_no_allow_http)
{
	struct config	*cfg = load_ok("aws:\n"
	    "  endpoint_url: http://localhost:4566\n"
	    "  sts_endpoint_url: http://[::1]:4566/\n" KEYS1);

	config_free(cfg);
	cfg = load_ok("aws:\n  allow_http: true\n"
	    "  endpoint_url: http://kms.internal:8080\n" KEYS1);
	ck_assert_int_eq(cfg->aws.allow_http, 1);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_renotify_zero_means_never)
{
	struct config	*cfg = load_ok("renotify: 0\n" KEYS1);

	ck_assert_int_eq(cfg->renotify, 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_expect_use_within_global_per_key_and_off)
{
	struct config	*cfg = load_ok(KEYS1);

	/* Off by default. */
	ck_assert_int_eq(config_key_use_within(cfg, &cfg->keys[0]), 0);
	config_free(cfg);
	cfg = load_ok("expect_use_within: 2d\n"
	    "keys:\n  - arn: " KEY1 "\n"
	    "  - arn: " KEY2 "\n    expect_use_within: 0\n"
	    "  - arn: " KEY1 "2\n    expect_use_within: 12h\n");
	ck_assert_int_eq(config_key_use_within(cfg, &cfg->keys[0]),
	    2 * 86400);
	ck_assert_int_eq(config_key_use_within(cfg, &cfg->keys[1]), 0);
	ck_assert_int_eq(config_key_use_within(cfg, &cfg->keys[2]),
	    12 * 3600);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_expect_use_within_under_an_hour_is_refused)
{
	one_error("expect_use_within: 30m\n" KEYS1,
	    "t.yaml:1:20: expect_use_within: must be 0 (off) or at least "
	    "1h: usage is fetched hourly, got 30m");
	one_error("keys:\n  - arn: " KEY1 "\n    expect_use_within: 400d\n",
	    "t.yaml:3:24: keys[0].expect_use_within: must be between 0s and "
	    "365d, got 400d");
}
END_TEST

/* ---- vendors ---- */

START_TEST(test_config_builtin_vendor_is_loaded_once)
{
	struct config	*cfg = load_ok("keys:\n"
	    "  - arn: " KEY1 "\n    vendor: gearset\n"
	    "  - arn: " KEY2 "\n    vendor: gearset\n");

	ck_assert_uint_eq(cfg->nvendors, 1);
	ck_assert_ptr_eq(cfg->keys[0].vendor, cfg->keys[1].vendor);
	ck_assert_str_eq(vendor_account(cfg->keys[0].vendor, "eu-west-1"),
	    "347752291521");
	ck_assert_ptr_eq(config_vendor(cfg, "gearset"), cfg->keys[0].vendor);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_custom_vendor_becomes_struct_vendor)
{
	struct config			*cfg = load_ok(
	    "vendors:\n"
	    "  acme:\n"
	    "    accounts: {eu-west-1: \"123456789012\", us-east-1: "
	    "\"210987654321\"}\n"
	    "    require:\n"
	    "      - actions: [kms:Encrypt, kms:Decrypt, kms:ReEncrypt*]\n"
	    "        label: use\n"
	    "      - actions: [kms:CreateGrant]\n"
	    "        condition: {Bool: {kms:GrantIsForAWSResource: "
	    "\"true\"}}\n"
	    "    key_spec: SYMMETRIC_DEFAULT\n"
	    "    key_usage: ENCRYPT_DECRYPT\n"
	    "keys:\n  - arn: " KEY1 "\n    vendor: acme\n");
	const struct vendor		*v = cfg->keys[0].vendor;

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->name, "acme");
	ck_assert_uint_eq(v->naccounts, 2);
	ck_assert_str_eq(vendor_account(v, "us-east-1"), "210987654321");
	ck_assert_ptr_null(vendor_account(v, "eu-west-2"));
	ck_assert_uint_eq(v->ngroups, 2);
	ck_assert_str_eq(v->groups[0].label, "use");
	ck_assert_uint_eq(v->groups[0].nactions, 3);
	ck_assert_str_eq(v->groups[0].actions[2], "kms:ReEncrypt*");
	ck_assert_uint_eq(v->groups[0].nconds, 0);
	ck_assert_str_eq(v->groups[1].label, "requirement 2");
	ck_assert_uint_eq(v->groups[1].nconds, 1);
	ck_assert_str_eq(v->groups[1].conds[0].op, "Bool");
	ck_assert_str_eq(v->groups[1].conds[0].key,
	    "kms:GrantIsForAWSResource");
	ck_assert_str_eq(v->groups[1].conds[0].value, "true");
	ck_assert_str_eq(v->key_spec, "SYMMETRIC_DEFAULT");
	ck_assert_str_eq(v->key_usage, "ENCRYPT_DECRYPT");
	config_free(cfg);
}
END_TEST

START_TEST(test_config_custom_vendor_overrides_shipped)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg;

	cfg = load("vendors:\n  gearset:\n    accounts: {eu-west-1: "
	    "\"123456789012\"}\n    require:\n      - actions: "
	    "[kms:Decrypt]\n" KEYS1, &errs);
	ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
	ck_assert_str_eq(vendor_account(config_vendor(cfg, "gearset"),
	    "eu-west-1"), "123456789012");
	ck_assert_str_eq(config_vendor(cfg, "gearset")->origin, "t.yaml:2");
	config_free(cfg);
}
END_TEST

START_TEST(test_config_custom_vendor_errors_are_specific)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(load(
	    "vendors:\n"
	    "  acme:\n"
	    "    accounts: {eu-west-1: \"12345\", nowhere: \"123456789012\"}\n"
	    "    require:\n"
	    "      - actions: [kms:Encypt, s3:GetObject]\n"
	    "        condition: {Boool: {kms:GrantIsForAWSResource: "
	    "\"true\"}}\n"
	    "    key_spec: SYMETRIC_DEFAULT\n"
	    KEYS1, &errs));
	ck_assert_uint_eq(errs.n, 6);
	ck_assert_str_eq(errs.msgs[0], "t.yaml:3:27: vendors.acme.accounts: "
	    "an AWS account is 12 digits, got '12345'");
	ck_assert_str_eq(errs.msgs[1], "t.yaml:3:36: vendors.acme.accounts: "
	    "not an AWS region: 'nowhere' (e.g. eu-west-1)");
	ck_assert_str_eq(errs.msgs[2], "t.yaml:5:19: "
	    "vendors.acme.require[0].actions: unknown KMS action "
	    "'kms:Encypt'; did you mean 'kms:Encrypt'?");
	ck_assert_str_eq(errs.msgs[3], "t.yaml:5:31: "
	    "vendors.acme.require[0].actions: 's3:GetObject' is not a KMS "
	    "action (kms:NAME, e.g. kms:Decrypt)");
	ck_assert_str_eq(errs.msgs[4], "t.yaml:6:21: "
	    "vendors.acme.require[0].condition: unknown condition operator "
	    "'Boool'; did you mean 'Bool'?");
	ck_assert_str_eq(errs.msgs[5], "t.yaml:7:15: vendors.acme.key_spec: "
	    "unknown value 'SYMETRIC_DEFAULT'; did you mean "
	    "'SYMMETRIC_DEFAULT'?");
	config_errors_free(&errs);
}
END_TEST

/*
 * A vendor's condition operator is accepted exactly when the policy
 * evaluator knows it (lib/policy owns the IAM vocabulary): Null takes
 * neither a set prefix nor IfExists.
 */
START_TEST(test_config_condition_operators_are_the_evaluators)
{
	static const struct {
		const char	*op;
		int		 ok;
	} t[] = {
		{ "Bool", 1 }, { "StringEqualsIfExists", 1 },
		{ "ForAnyValue:StringLike", 1 }, { "ForAllValues:ArnLike", 1 },
		{ "Null", 1 }, { "IpAddress", 1 }, { "NullIfExists", 0 },
		{ "ForAllValues:Null", 0 }, { "Boool", 0 }, { "Exists", 0 },
	};
	struct config_errors	 errs;
	struct config		*cfg;
	char			 text[1024];
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&errs, 0, sizeof(errs));
		(void)snprintf(text, sizeof(text), "vendors:\n  acme:\n"
		    "    accounts: {eu-west-1: \"123456789012\"}\n"
		    "    require:\n      - actions: [kms:Decrypt]\n"
		    "        condition: {\"%s\": {kms:GrantIsForAWSResource: "
		    "\"true\"}}\n" KEYS1, t[i].op);
		cfg = load(text, &errs);
		ck_assert_msg((cfg != NULL) == t[i].ok, "%s: %s", t[i].op,
		    errs.n > 0 ? errs.msgs[0] : "accepted");
		ck_assert_int_eq(policy_cond_op_known(t[i].op), t[i].ok);
		config_free(cfg);
		config_errors_free(&errs);
	}
}
END_TEST

START_TEST(test_config_unknown_vendor_lists_known_ones)
{
	one_error(KEYS1 "    vendor: acme\n",
	    "t.yaml:3:13: keys[0].vendor: unknown vendor 'acme' (known: "
	    "gearset; define custom ones under vendors:)");
	one_error(KEYS1 "    vendor: gearsett\n",
	    "t.yaml:3:13: keys[0].vendor: unknown vendor 'gearsett'; did you "
	    "mean 'gearset'? (known: gearset)");
}
END_TEST

/* ---- notifiers ---- */

/* As validate and run load: the notifiers: section handed to lib/notify. */
static struct config *
load_notifiers(const char *text, struct config_errors *errs)
{
	return config_load_buffer_flags("t.yaml", text, strlen(text),
	    CONFIG_LOAD_NOTIFIERS, errs);
}

START_TEST(test_config_notifier_common_keys_and_block)
{
	struct config_errors	 errs = { 0 };
	struct config		*cfg = load_notifiers(KEYS1
	    "notifiers:\n"
	    "  - type: journald\n"
	    "  - type: webhook\n"
	    "    name: oncall\n"
	    "    url: https://hooks.example.com/x\n"
	    "    min_severity: warning\n"
	    "    checks: [key-disabled, key-pending-deletion]\n"
	    "    exclude_checks: [key-material-rotated]\n", &errs);
	const struct notifier	*n;
	char * const		*ids;
	size_t			 nids;

	ck_assert_msg(cfg != NULL, "%s", errs.n > 0 ? errs.msgs[0] : "");
	ck_assert_uint_eq(cfg->nnotifiers, 2);
	n = cfg->notifiers[0];
	ck_assert_str_eq(notify_type(n), "journald");
	ck_assert_str_eq(notify_name(n), "journald");
	ck_assert_int_eq(notify_min_severity(n), SEV_INFO);
	ck_assert_ptr_null(notify_checks(n, &nids));
	ck_assert_str_eq(notify_option_names(n), "");
	n = cfg->notifiers[1];
	ck_assert_str_eq(notify_type(n), "webhook");
	ck_assert_str_eq(notify_name(n), "oncall");
	ck_assert_int_eq(notify_min_severity(n), SEV_WARNING);
	ids = notify_checks(n, &nids);
	ck_assert_uint_eq(nids, 2);
	ck_assert_str_eq(ids[1], "key-pending-deletion");
	(void)notify_exclude_checks(n, &nids);
	ck_assert_uint_eq(nids, 1);
	ck_assert_str_eq(notify_option_names(n), "url");
	config_free(cfg);
}
END_TEST

START_TEST(test_config_without_notifiers_flag_leaves_them_unread)
{
	/* check and baseline send nothing: no secret is read for them. */
	struct config	*cfg = load_ok(KEYS1
	    "notifiers:\n"
	    "  - type: pagerduty\n"
	    "    routing_key_file: /nonexistent/key\n");

	ck_assert_uint_eq(cfg->nnotifiers, 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_notifier_errors)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(load_notifiers("intervall: 5m\n" KEYS1
	    "notifiers:\n"
	    "  - type: pagerdty\n"
	    "  - name: x\n"
	    "  - type: journald\n"
	    "    min_severity: severe\n"
	    "    checks: [key-disabld]\n"
	    "    tyep: x\n"
	    "  - type: webhook\n"
	    "    name: x\n"
	    "    url: https://h.example/x\n"
	    "  - type: journald\n"
	    "    name: x\n", &errs));
	ck_assert_uint_eq(errs.n, 7);
	/* The file's and the notifiers' errors, in one sorted list. */
	ck_assert_str_eq(errs.msgs[0], "t.yaml:1:1: unknown key 'intervall'; "
	    "did you mean 'interval'?");
	ck_assert_str_eq(errs.msgs[1], "t.yaml:5:11: unknown "
	    "notifier type 'pagerdty'; did you mean 'pagerduty'?");
	ck_assert_str_eq(errs.msgs[2], "t.yaml:6:5: a notifier "
	    "needs a 'type' (one of: journald, webhook, exec, pagerduty, "
	    "alertmanager, slack, module)");
	ck_assert_str_eq(errs.msgs[3], "t.yaml:8:19: "
	    "min_severity: 'severe' is not one of info, warning, unknown, "
	    "critical");
	ck_assert_str_eq(errs.msgs[4], "t.yaml:9:14: 'checks': "
	    "unknown check id 'key-disabld'");
	ck_assert_str_eq(errs.msgs[5], "t.yaml:10:5: unknown "
	    "option \"tyep\" for a journald notifier (did you mean "
	    "\"type\"?)");
	ck_assert_str_eq(errs.msgs[6], "t.yaml:15:11: a second "
	    "notifier named 'x' (notifiers[3] at line 11; give each a "
	    "unique name:)");
	config_errors_free(&errs);
}
END_TEST

/*
 * One duration grammar: the same string is accepted, or refused for the
 * same reason, by every option that takes a duration, the file's and the
 * notifiers' alike (all the values here are within every option's range).
 */
#define DUR_PLACES	15

static void
durations_everywhere(const char *d, const char *keyfile,
    struct config_errors *errs)
{
	char		 text[4096];
	struct config	*cfg;

	(void)snprintf(text, sizeof(text),
	    "interval: %s\n"
	    "slow_interval: %s\n"
	    "grants_interval: %s\n"
	    "renotify: %s\n"
	    "kms:\n  connect_timeout: %s\n  timeout: %s\n"
	    "alerts:\n  material_expiry_warning: %s\n"
	    "discover:\n  interval: %s\n"
	    "keys:\n  - arn: " KEY1 "\n    interval: %s\n"
	    "    grants_interval: %s\n"
	    "notifiers:\n"
	    "  - type: webhook\n    url: https://h.example/x\n"
	    "    timeout: %s\n"
	    "  - type: exec\n    command: [/bin/true]\n    timeout: %s\n"
	    "  - type: pagerduty\n    routing_key_file: %s\n"
	    "    timeout: %s\n"
	    "  - type: slack\n    url: https://hooks.slack.com/services/X\n"
	    "    timeout: %s\n"
	    "  - type: alertmanager\n    url: http://127.0.0.1:9093\n"
	    "    repost_interval: %s\n",
	    d, d, d, d, d, d, d, d, d, d, d, d, keyfile, d, d, d);
	cfg = load_notifiers(text, errs);
	if (errs->total == 0)
		ck_assert_ptr_nonnull(cfg);
	config_free(cfg);
}

START_TEST(test_config_one_duration_grammar_everywhere)
{
	static const char * const accepted[] = { "1s", "30s", "2m", "1m30s",
	    "90s", "5m", "1000ms", "2m0s", NULL };
	static const struct {
		const char	*s;
		const char	*why;
	} refused[] = {
		{ "30", "missing unit" },
		{ "1.5m", "fractions are not supported" },
		{ "1h 30m", "no spaces allowed" },
		{ "-5s", "no sign allowed" },
		{ "1m1h", "repeated or out of order" },
		{ "5min", "unknown unit 'min'" },
		{ "30sec", "unknown unit 'sec'" },
		{ "s", "expected a number" },
		{ NULL, NULL }
	};
	struct config_errors	 errs = { 0 };
	const char		*tmp = getenv("TMPDIR");
	char			 keyfile[512];
	size_t			 i, j;
	int			 fd;

	(void)snprintf(keyfile, sizeof(keyfile), "%s/khkeyXXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : P_tmpdir);
	ck_assert_int_ge(fd = mkstemp(keyfile), 0);
	ck_assert_int_eq(write(fd, "R0utingKey\n", 11), 11);
	close(fd);
	for (i = 0; accepted[i] != NULL; i++) {
		durations_everywhere(accepted[i], keyfile, &errs);
		ck_assert_msg(errs.total == 0, "'%s' refused: %s", accepted[i],
		    errs.n > 0 ? errs.msgs[0] : "");
		config_errors_free(&errs);
	}
	for (i = 0; refused[i].s != NULL; i++) {
		durations_everywhere(refused[i].s, keyfile, &errs);
		ck_assert_msg(errs.total == DUR_PLACES, "'%s': %zu errors, not "
		    "one per place (%d)", refused[i].s, errs.total,
		    DUR_PLACES);
		for (j = 0; j < errs.n; j++)
			ck_assert_msg(strstr(errs.msgs[j], "bad duration") !=
			    NULL && strstr(errs.msgs[j], refused[i].why) !=
			    NULL, "'%s': %s", refused[i].s, errs.msgs[j]);
		config_errors_free(&errs);
	}
	/* Precision is the option's: milliseconds for the notifiers'
	 * five, whole seconds for the file's ten. */
	durations_everywhere("1500ms", keyfile, &errs);
	ck_assert_uint_eq(errs.total, DUR_PLACES - 5);
	for (j = 0; j < errs.n; j++)
		ck_assert_ptr_nonnull(strstr(errs.msgs[j],
		    "this option takes whole seconds"));
	config_errors_free(&errs);
	unlink(keyfile);
}
END_TEST

START_TEST(test_config_second_notifier_of_a_type_needs_a_name)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(load_notifiers(KEYS1 "notifiers:\n"
	    "  - type: journald\n  - type: journald\n", &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0], "t.yaml:5:11: a second "
	    "notifier named 'journald' (notifiers[0] at line 4; give each a "
	    "unique name:)");
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_config_notifier_name_rule)
{
	struct config_errors	errs = { 0 };
	char			long_name[80], text[512];

	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	(void)snprintf(text, sizeof(text), KEYS1 "notifiers:\n"
	    "  - type: journald\n    name: %s\n"
	    "  - type: journald\n    name: with space\n"
	    "  - type: journald\n    name: .hidden\n", long_name);
	ck_assert_ptr_null(load_notifiers(text, &errs));
	ck_assert_uint_eq(errs.n, 3);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "t.yaml:5:11: "
	    "bad notifier name 'aaaa"));
	ck_assert_ptr_nonnull(strstr(errs.msgs[1], "t.yaml:7:11: "
	    "bad notifier name 'with space' (1 to 64 of A-Z "
	    "a-z 0-9 _ - ., not starting with .)"));
	ck_assert_ptr_nonnull(strstr(errs.msgs[2], "t.yaml:9:11: "
	    "bad notifier name '.hidden'"));
	config_errors_free(&errs);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	(void)snprintf(text, sizeof(text), KEYS1 "notifiers:\n"
	    "  - type: journald\n    name: %s\n"
	    "  - type: journald\n    name: A-z_0.9\n", long_name);
	config_free(load_notifiers(text, &errs));
	ck_assert_uint_eq(errs.n, 0);
}
END_TEST

/* ---- errors, one kind each ---- */

START_TEST(test_config_unknown_key_suggests_closest)
{
	one_error("intervall: 5m\n" KEYS1,
	    "t.yaml:1:1: unknown key 'intervall'; did you mean 'interval'?");
	one_error("aws:\n  regoin: eu-west-1\n" KEYS1,
	    "t.yaml:2:3: unknown key 'regoin' in aws; did you mean 'region'?");
	one_error(KEYS1 "    nmae: x\n",
	    "t.yaml:3:5: unknown key 'nmae' in keys[0]; did you mean 'name'?");
}
END_TEST

START_TEST(test_config_unknown_key_without_suggestion_lists_known)
{
	one_error("http:\n  port: 9464\n" KEYS1,
	    "t.yaml:2:3: unknown key 'port' in http (expected one of: "
	    "listen, max_connections)");
}
END_TEST

START_TEST(test_config_http_max_connections_out_of_range)
{
	one_error("http:\n  max_connections: 0\n" KEYS1,
	    "t.yaml:2:20: http.max_connections: must be between 1 and 65536, "
	    "got 0");
}
END_TEST

START_TEST(test_config_bad_duration_names_its_node)
{
	one_error("interval: 5x\n" KEYS1,
	    "t.yaml:1:11: interval: bad duration '5x': unknown unit 'x' (use "
	    "ms, s, m, h, d)");
	one_error(KEYS1 "    interval: 1500ms\n",
	    "t.yaml:3:15: keys[0].interval: bad duration '1500ms': this "
	    "option takes whole seconds");
	one_error("interval: 2d\n" KEYS1,
	    "t.yaml:1:11: interval: must be between 1s and 1d, got 2d");
}
END_TEST

START_TEST(test_config_bad_arn_uses_arn_parse_message)
{
	one_error("keys:\n  - arn: arn:aws:kms:eu-west-1:1111:key/abc\n",
	    "t.yaml:2:10: keys[0].arn: ARN account must be 12 digits: "
	    "arn:aws:kms:eu-west-1:1111:key/abc");
	one_error("keys:\n  - arn: alias/foo\n",
	    "t.yaml:2:10: keys[0].arn: not an ARN (must start with \"arn:\"): "
	    "alias/foo");
}
END_TEST

START_TEST(test_config_alias_arn_as_key_arn_is_refused)
{
	one_error("keys:\n  - arn: arn:aws:kms:eu-west-1:111122223333:alias/x\n",
	    "t.yaml:2:10: keys[0].arn: expected a key ARN (...:key/ID), got "
	    "an alias ARN; give the key's ARN and the alias under 'alias:'");
}
END_TEST

START_TEST(test_config_alias_errors)
{
	one_error(KEYS1 "    alias: gearset-backup\n",
	    "t.yaml:3:12: keys[0].alias: expected alias/NAME or an alias ARN, "
	    "got 'gearset-backup'");
	one_error(KEYS1 "    alias: arn:aws:kms:eu-west-1:999999999999:alias/x\n",
	    "t.yaml:3:12: keys[0].alias: the alias is in 999999999999/"
	    "eu-west-1 but the key in 111122223333/eu-west-1: an alias can "
	    "only point to a key of its own account and region");
	one_error(KEYS1 "    alias: alias/aws/s3\n",
	    "t.yaml:3:12: keys[0].alias: alias/aws/ names AWS managed keys, "
	    "which a vendor cannot be granted");
}
END_TEST

START_TEST(test_config_duplicate_yaml_key_from_ynode)
{
	one_error("interval: 5m\ninterval: 1m\n" KEYS1,
	    "t.yaml:2:1: duplicate key 'interval' (first at line 1)");
}
END_TEST

START_TEST(test_config_yaml_syntax_error_has_position)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(load("keys: [\n", &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_msg(strncmp(errs.msgs[0], "t.yaml:", 7) == 0, "%s",
	    errs.msgs[0]);
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_config_duplicate_key_arn)
{
	one_error("keys:\n  - arn: " KEY1 "\n    name: a\n  - arn: " KEY1
	    "\n    name: b\n",
	    "t.yaml:4:10: keys[1].arn: duplicate key ARN (also keys[0] at "
	    "line 2)");
}
END_TEST

START_TEST(test_config_duplicate_key_name)
{
	one_error("keys:\n  - arn: " KEY1 "\n    name: a\n  - arn: " KEY2
	    "\n    name: a\n",
	    "t.yaml:5:11: keys[1].name: duplicate name 'a' (also keys[0] at "
	    "line 2)");
}
END_TEST

START_TEST(test_config_colliding_default_names_ask_for_a_name)
{
	/* A multi-Region key has the same id in every region. */
	one_error("keys:\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/mrk-1\n"
	    "  - arn: arn:aws:kms:us-west-2:111122223333:key/mrk-1\n",
	    "t.yaml:3:10: keys[1]: its default name 'mrk-1' is taken (keys[0] "
	    "at line 2); set a 'name:'");
}
END_TEST

/* Appends key i: an entry with every field, as large as a real one. */
static size_t
put_key(char *buf, size_t cap, size_t off, size_t i, size_t arn_of,
    size_t name_of, int named)
{
	int	n;

	n = snprintf(buf + off, cap - off,
	    "  # watched for the backup vendor since 2026, ticket OPS-%06zu\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/"
	    "%08zx-12ab-34cd-56ef-1234567890ab\n", i, arn_of);
	off += (size_t)n;
	if (named) {
		n = snprintf(buf + off, cap - off, "    name: gearset-backup-"
		    "key-%06zu\n", name_of);
		off += (size_t)n;
	}
	n = snprintf(buf + off, cap - off, "    vendor: gearset\n"
	    "    alias: alias/gearset-backup-%06zu\n    interval: 10m\n"
	    "    expect_rotation: true\n", i);
	return off + (size_t)n;
}

/*
 * Duplicates among many keys are found by sorting, and reported as the
 * pairwise scan did: at the later key, naming the earliest clash, the ARN
 * first.
 */
START_TEST(test_config_duplicates_among_many_keys)
{
	size_t			 n = 3000, i, off, cap = n * 400;
	char			*buf = malloc(cap);
	struct config_errors	 errs = { 0 };

	ck_assert_ptr_nonnull(buf);
	off = (size_t)snprintf(buf, cap, "keys:\n");
	for (i = 0; i < n; i++) {
		size_t	arn_of = i, name_of = i;

		if (i == 2500)
			arn_of = 10;	/* and its name clashes later */
		if (i == 2600)
			name_of = 7;
		if (i == 2700) {
			arn_of = 30;	/* both: the name's clash is first */
			name_of = 20;
		}
		off = put_key(buf, cap, off, i, arn_of, name_of, 1);
	}
	ck_assert_ptr_null(config_load_buffer("t.yaml", buf, off, &errs));
	ck_assert_uint_eq(errs.total, 3);
	ck_assert_msg(strstr(errs.msgs[0], "keys[2500].arn: duplicate key ARN "
	    "(also keys[10] at line 73)") != NULL, "%s", errs.msgs[0]);
	ck_assert_msg(strstr(errs.msgs[1], "keys[2600].name: duplicate name "
	    "'gearset-backup-key-000007' (also keys[7] at line 52)") != NULL,
	    "%s", errs.msgs[1]);
	ck_assert_msg(strstr(errs.msgs[2], "keys[2700].name: duplicate name "
	    "'gearset-backup-key-000020' (also keys[20] at line 143)") !=
	    NULL, "%s", errs.msgs[2]);
	config_errors_free(&errs);
	free(buf);
}
END_TEST

/*
 * The file size limit leaves room for the key limit: 100,000 keys with
 * every field and a comment each load; one more is "too many keys", not
 * "file too large".
 */
START_TEST(test_config_max_keys_fit_the_file_limits)
{
	size_t			 n = 100000, i, off, cap = (n + 1) * 400;
	char			*buf = malloc(cap);
	struct config_errors	 errs = { 0 };
	struct config		*cfg;

	ck_assert_ptr_nonnull(buf);
	off = (size_t)snprintf(buf, cap, "keys:\n");
	for (i = 0; i < n; i++)
		off = put_key(buf, cap, off, i, i, i, 1);
	ck_assert_uint_le(off, YNODE_MAX_BYTES);
	cfg = config_load_buffer("t.yaml", buf, off, &errs);
	ck_assert_msg(cfg != NULL, "%s", errs.n > 0 ? errs.msgs[0] : "?");
	ck_assert_uint_eq(cfg->nkeys, n);
	config_free(cfg);
	off = put_key(buf, cap, off, n, n, n, 1);
	ck_assert_ptr_null(config_load_buffer("t.yaml", buf, off, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0], "t.yaml:3:3: keys: too many keys (at "
	    "most 100000)");
	config_errors_free(&errs);
	free(buf);
}
END_TEST

START_TEST(test_config_discover_section_needs_no_keys)
{
	struct config	*cfg;

	cfg = load_ok("discover: {}\n");
	ck_assert_int_eq(cfg->discover.enabled, 1);
	ck_assert_int_eq(cfg->discover.interval, 6 * 3600);
	ck_assert_uint_eq(cfg->nkeys, 0);
	config_free(cfg);
	cfg = load_ok("keys: []\ndiscover:\n  interval: 30m\n"
	    "  regions: [eu-west-1]\n  vendors: [gearset]\n  accounts:\n"
	    "    - assume_role: arn:aws:iam::444455556666:role/kh\n"
	    "    - profile: other\n");
	ck_assert_int_eq(cfg->discover.interval, 1800);
	ck_assert_uint_eq(cfg->discover.nregions, 1);
	ck_assert_str_eq(cfg->discover.vendors[0], "gearset");
	ck_assert_uint_eq(cfg->discover.naccounts, 2);
	ck_assert_str_eq(cfg->discover.accounts[0].assume_role,
	    "arn:aws:iam::444455556666:role/kh");
	ck_assert_int_eq(cfg->discover.accounts[1].use_fips, -1);
	config_free(cfg);
	cfg = load_ok("discover:\n" KEYS1);
	ck_assert_int_eq(cfg->discover.enabled, 1);
	ck_assert_uint_eq(cfg->nkeys, 1);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_discover_errors_name_the_node)
{
	one_error("discover: {interval: 30}\n",
	    "t.yaml:1:22: discover.interval: bad duration '30': missing unit "
	    "(use ms, s, m, h, d)");
	one_error("discover: {regions: [mars]}\n",
	    "t.yaml:1:22: discover.regions: not an AWS region: 'mars' (e.g. "
	    "eu-west-1)");
	one_error("discover: {vendors: [gearsett]}\n",
	    "t.yaml:1:22: discover.vendors: unknown vendor 'gearsett'; did "
	    "you mean 'gearset'? (known: gearset)");
	one_error("discover: {accounts: [{assume_role: nope}]}\n",
	    "t.yaml:1:37: discover.accounts[0].assume_role: expected an IAM "
	    "role ARN (arn:aws:iam::ACCOUNT:role/NAME), got 'nope'");
	one_error("discover: {acounts: []}\n",
	    "t.yaml:1:12: unknown key 'acounts' in discover; did you mean "
	    "'accounts'?");
	one_error("discover: [eu-west-1]\n",
	    "t.yaml:1:11: discover: expected a mapping, got a sequence");
}
END_TEST

START_TEST(test_config_empty_or_missing_key_list)
{
	one_error("keys: []\n",
	    "t.yaml:1:7: keys: the list is empty; add at least one key");
	one_error("interval: 5m\n",
	    "t.yaml:1:1: no keys to watch: add a 'keys:' list (or a 'discover:' section)");
	one_error("",
	    "t.yaml:1:1: no keys to watch: add a 'keys:' list (or a 'discover:' section)");
	one_error("keys:\n  - name: x\n",
	    "t.yaml:2:5: keys[0]: missing required key 'arn'");
}
END_TEST

START_TEST(test_config_wrong_types_say_what_was_expected)
{
	one_error("aws:\n  - profile: x\n" KEYS1,
	    "t.yaml:2:3: aws: expected a mapping, got a sequence");
	one_error("keys:\n  arn: " KEY1 "\n",
	    "t.yaml:2:3: keys: expected a sequence, got a mapping");
	one_error("aws:\n" KEYS1,
	    "t.yaml:1:5: aws: expected a mapping, got an empty value");
	one_error("interval: [5m]\n" KEYS1,
	    "t.yaml:1:11: interval: expected a scalar, got a sequence");
	one_error("- a\n- b\n",
	    "t.yaml:1:1: the configuration must be a mapping (key: value), "
	    "got a sequence");
}
END_TEST

START_TEST(test_config_booleans_are_true_or_false_only)
{
	one_error(KEYS1 "    expect_rotation: yes\n",
	    "t.yaml:3:22: keys[0].expect_rotation: expected true or false, "
	    "got 'yes' (only true and false are booleans here)");
	one_error(KEYS1 "    expect_rotation: \"true\"\n",
	    "t.yaml:3:22: keys[0].expect_rotation: expected true or false, "
	    "got a quoted string (write the boolean without quotes)");
	one_error(KEYS1 "    expect_rotation: 1\n",
	    "t.yaml:3:22: keys[0].expect_rotation: expected true or false, "
	    "got '1'");
}
END_TEST

START_TEST(test_config_numbers_are_strict)
{
	one_error("kms:\n  max_attempts: \"4\"\n" KEYS1,
	    "t.yaml:2:17: kms.max_attempts: expected an integer, got a quoted "
	    "string (write the number without quotes)");
	one_error("kms:\n  max_attempts: 4.0\n" KEYS1,
	    "t.yaml:2:17: kms.max_attempts: expected an integer, got '4.0'");
	one_error("kms:\n  max_attempts: 04\n" KEYS1,
	    "t.yaml:2:17: kms.max_attempts: expected an integer, got '04'");
	one_error("kms:\n  max_attempts: 0x4\n" KEYS1,
	    "t.yaml:2:17: kms.max_attempts: expected an integer, got '0x4'");
	one_error("kms:\n  max_attempts: 99\n" KEYS1,
	    "t.yaml:2:17: kms.max_attempts: must be between 1 and 20, got 99");
	one_error("kms:\n  rate_limit: -1\n" KEYS1,
	    "t.yaml:2:15: kms.rate_limit: expected a number, got '-1'");
	one_error("kms:\n  rate_limit: 1e3\n" KEYS1,
	    "t.yaml:2:15: kms.rate_limit: expected a number, got '1e3'");
	one_error("kms:\n  rate_limit: 0\n" KEYS1,
	    "t.yaml:2:15: kms.rate_limit: must be between 0.01 and 10000, got "
	    "0");
}
END_TEST

START_TEST(test_config_timeout_not_shorter_than_connect_timeout)
{
	one_error("kms:\n  connect_timeout: 10s\n  timeout: 5s\n" KEYS1,
	    "t.yaml:3:12: kms.timeout: must not be shorter than "
	    "connect_timeout");
}
END_TEST

START_TEST(test_config_http_listen_errors)
{
	one_error("http:\n  listen: 9464\n" KEYS1,
	    "t.yaml:2:11: http.listen: expected HOST:PORT or [IPV6]:PORT, got "
	    "'9464'");
	one_error("http:\n  listen: \":9464\"\n" KEYS1,
	    "t.yaml:2:11: http.listen: no host in ':9464' (write "
	    "0.0.0.0:PORT to listen on every address)");
	one_error("http:\n  listen: 127.0.0.1:70000\n" KEYS1,
	    "t.yaml:2:11: http.listen: port must be between 1 and 65535, got "
	    "70000");
}
END_TEST

START_TEST(test_config_plain_http_to_remote_needs_allow_http)
{
	one_error("aws:\n  endpoint_url: http://kms.example.com\n" KEYS1,
	    "t.yaml:2:17: aws.endpoint_url: plain http to 'kms.example.com', "
	    "which is not loopback, is refused (use https, or set allow_http: "
	    "true)");
	/* A key's own allow_http counts for its own endpoint. */
	config_free(load_ok(KEYS1 "    aws:\n      allow_http: true\n"
	    "      endpoint_url: http://kms.example.com\n"));
}
END_TEST

START_TEST(test_config_inline_secrets_refused_without_echo)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(load("aws:\n  aws_secret_access_key: "
	    "wJalrXUtnFEMI/K7MDENG\n" KEYS1, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0], "t.yaml:2:3: aws: inline AWS "
	    "credentials are not supported; use a profile (with "
	    "AWS_SHARED_CREDENTIALS_FILE), the environment or a role");
	ck_assert_ptr_null(strstr(errs.msgs[0], "wJalr"));
	config_errors_free(&errs);
	ck_assert_ptr_null(load("aws:\n  endpoint_url: "
	    "https://user:hunter2@kms.example.com\n" KEYS1, &errs));
	ck_assert_ptr_null(strstr(errs.msgs[0], "hunter2"));
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_config_bad_role_arn)
{
	one_error("aws:\n  assume_role: arn:aws:iam::111122223333:user/bob\n"
	    KEYS1, "t.yaml:2:16: aws.assume_role: expected an IAM role ARN "
	    "(arn:aws:iam::ACCOUNT:role/NAME), got "
	    "'arn:aws:iam::111122223333:user/bob'");
}
END_TEST

START_TEST(test_config_all_errors_in_one_run_sorted)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(load(
	    "renotify: 1x\n"
	    "keys:\n"
	    "  - arn: nope\n"
	    "    vendor: nobody\n"
	    "    expect_rotation: yes\n"
	    "intervl: 5m\n", &errs));
	ck_assert_uint_eq(errs.n, 5);
	ck_assert_uint_eq(errs.total, 5);
	ck_assert_str_eq(errs.msgs[0], "t.yaml:1:11: renotify: bad duration "
	    "'1x': unknown unit 'x' (use ms, s, m, h, d)");
	ck_assert(strncmp(errs.msgs[1], "t.yaml:3:10: keys[0].arn: ", 26) ==
	    0);
	ck_assert(strncmp(errs.msgs[2], "t.yaml:4:13: keys[0].vendor: ", 29) ==
	    0);
	ck_assert(strncmp(errs.msgs[3], "t.yaml:5:22: ", 13) == 0);
	ck_assert_str_eq(errs.msgs[4], "t.yaml:6:1: unknown key 'intervl'; "
	    "did you mean 'interval'?");
	config_errors_free(&errs);
}
END_TEST

/* Keys are checked as the file is parsed, the rest after it: what is
 * kept of more than CONFIG_MAX_ERRORS is still the file's first. */
START_TEST(test_config_errors_are_capped_but_counted)
{
	char			*text;
	size_t			 i, off = 0, cap = 100 * 64;
	struct config_errors	 errs = { 0 };

	text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	off += (size_t)snprintf(text + off, cap - off, "interval: 5x\n"
	    "keys:\n");
	for (i = 0; i < 80; i++)
		off += (size_t)snprintf(text + off, cap - off,
		    "  - arn: bad%zu\n", i);
	ck_assert_ptr_null(config_load_buffer("t.yaml", text, off, &errs));
	ck_assert_uint_eq(errs.n, CONFIG_MAX_ERRORS);
	ck_assert_uint_eq(errs.total, 81);
	ck_assert_msg(strncmp(errs.msgs[0], "t.yaml:1:11: interval:", 22) ==
	    0, "%s", errs.msgs[0]);
	ck_assert_msg(strncmp(errs.msgs[1], "t.yaml:3:", 9) == 0, "%s",
	    errs.msgs[1]);
	ck_assert_msg(strncmp(errs.msgs[CONFIG_MAX_ERRORS - 1], "t.yaml:51:",
	    10) == 0, "%s", errs.msgs[CONFIG_MAX_ERRORS - 1]);
	free(text);
	config_errors_free(&errs);
}
END_TEST

/* vendors: and aws: written after keys: apply to them, and what an entry
 * is refused for still names its own position. */
START_TEST(test_config_sections_after_keys_apply_to_them)
{
	static const char	 good[] =
	    "keys:\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k1\n"
	    "    vendor: acme\n"
	    "    aws: {endpoint_url: 'http://kms.test'}\n"
	    "vendors:\n"
	    "  acme:\n"
	    "    accounts: {eu-west-1: '123456789012'}\n"
	    "    require: [{actions: [kms:Decrypt]}]\n"
	    "aws: {allow_http: true}\n";
	static const char	 bad[] =
	    "keys:\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k1\n"
	    "    vendor: acmee\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k1\n"
	    "    aws: {endpoint_url: 'http://kms.test'}\n"
	    "vendors:\n"
	    "  acme:\n"
	    "    accounts: {eu-west-1: '123456789012'}\n"
	    "    require: [{actions: [kms:Decrypt]}]\n";
	struct config_errors	 errs = { 0 };
	struct config		*cfg = load_ok(good);

	ck_assert_uint_eq(cfg->nkeys, 1);
	ck_assert_ptr_nonnull(cfg->keys[0].vendor);
	ck_assert_str_eq(cfg->keys[0].aws.endpoint_url, "http://kms.test");
	ck_assert_str_eq(cfg->keys[0].parsed.resource, "k1");
	ck_assert_str_eq(cfg->keys[0].name, "k1");
	config_free(cfg);
	ck_assert_ptr_null(load(bad, &errs));
	ck_assert_uint_eq(errs.n, 3);
	ck_assert_msg(strncmp(errs.msgs[0], "t.yaml:3:13: keys[0].vendor: "
	    "unknown vendor 'acmee'; did you mean 'acme'?", 70) == 0, "%s",
	    errs.msgs[0]);
	ck_assert_msg(strncmp(errs.msgs[1], "t.yaml:4:10: keys[1].arn: "
	    "duplicate key ARN (also keys[0] at line 2)", 67) == 0, "%s",
	    errs.msgs[1]);
	ck_assert_msg(strncmp(errs.msgs[2], "t.yaml:5:25: keys[1].aws."
	    "endpoint_url: ", 39) == 0, "%s", errs.msgs[2]);
	config_errors_free(&errs);
}
END_TEST

/* Keys whose endpoint inputs are the same share the answer: the daemon
 * and validate work it out once for a run of them. */
START_TEST(test_config_same_endpoint)
{
	static const char	 text[] =
	    "aws: {endpoint_url: 'https://kms.example.com'}\n"
	    "keys:\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k1\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k2\n"
	    "  - arn: arn:aws:kms:us-west-2:111122223333:key/k3\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k4\n"
	    "    aws: {endpoint_url: 'https://other.example.com'}\n"
	    "  - arn: arn:aws:kms:eu-west-1:111122223333:key/k5\n"
	    "    aws: {use_fips: true}\n";
	struct config		*cfg = load_ok(text);

	ck_assert_int_eq(config_key_same_endpoint(cfg, &cfg->keys[0],
	    &cfg->keys[1]), 1);
	ck_assert_int_eq(config_key_same_endpoint(cfg, &cfg->keys[1],
	    &cfg->keys[2]), 0);
	ck_assert_int_eq(config_key_same_endpoint(cfg, &cfg->keys[0],
	    &cfg->keys[3]), 0);
	ck_assert_int_eq(config_key_same_endpoint(cfg, &cfg->keys[0],
	    &cfg->keys[4]), 0);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_missing_file_says_why)
{
	struct config_errors	errs = { 0 };

	ck_assert_ptr_null(config_load("tests/nonexistent.yaml", &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0],
	    "tests/nonexistent.yaml: No such file or directory");
	config_errors_free(&errs);
}
END_TEST

/* ---- printing, permissions ---- */

START_TEST(test_config_print_reads_back_the_same)
{
	struct config	*a, *b;
	char		*p1 = NULL, *p2 = NULL;
	size_t		 l1 = 0, l2 = 0;
	FILE		*f;

	a = load_ok("interval: 90s\nhttp:\n  listen: \"[::1]:9464\"\n"
	    "vendors:\n  acme:\n    accounts: {eu-west-1: \"012345678901\"}\n"
	    "    require:\n      - actions: [kms:CreateGrant]\n"
	    "        condition: {Bool: {kms:GrantIsForAWSResource: true}}\n"
	    "keys:\n  - arn: " KEY1 "\n    vendor: acme\n    name: \"a b\"\n"
	    "  - arn: " KEY2 "\n    vendor: gearset\n"
	    "notifiers:\n  - type: webhook\n    checks: [key-disabled]\n");
	ck_assert_ptr_nonnull(f = open_memstream(&p1, &l1));
	ck_assert_int_eq(config_print(a, f), 0);
	fclose(f);
	b = load_ok(p1);
	ck_assert_ptr_nonnull(f = open_memstream(&p2, &l2));
	ck_assert_int_eq(config_print(b, f), 0);
	fclose(f);
	ck_assert_str_eq(p1, p2);
	ck_assert_ptr_nonnull(strstr(p1, "eu-west-1: \"012345678901\""));
	ck_assert_ptr_nonnull(strstr(p1, "listen: \"[::1]:9464\""));
	free(p1);
	free(p2);
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(test_config_print_names_notifier_options_without_values)
{
	struct config_errors errs = { 0 };
	struct config	*cfg = load_notifiers(KEYS1 "notifiers:\n"
	    "  - type: slack\n"
	    "    url: https://hooks.slack.com/services/T0/B0/SECRET\n"
	    "    min_severity: critical\n", &errs);
	char		*p = NULL;
	size_t		 l = 0;
	FILE		*f;

	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_nonnull(f = open_memstream(&p, &l));
	ck_assert_int_eq(config_print(cfg, f), 0);
	fclose(f);
	ck_assert_ptr_null(strstr(p, "SECRET"));
	ck_assert_ptr_nonnull(strstr(p, "  - type: slack\n    name: slack\n"
	    "    min_severity: critical\n"
	    "    # options of this notifier (values not shown): url\n"));
	free(p);
	config_free(cfg);
}
END_TEST

START_TEST(test_config_world_writable_file_is_refused)
{
	const char	*tmp = getenv("TMPDIR");
	char		 path[512], err[1024], want[1200];
	int		 fd;

	(void)snprintf(path, sizeof(path), "%s/khcfgXXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : P_tmpdir);
	ck_assert_int_ge(fd = mkstemp(path), 0);
	close(fd);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(config_check_file_perms(path, err, sizeof(err)), 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(config_check_file_perms(path, err, sizeof(err)), -1);
	(void)snprintf(want, sizeof(want), "%s: refusing a world-writable "
	    "file (mode 0666): anyone could change what it says; chmod o-w "
	    "it", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	ck_assert_int_eq(config_check_file_perms(path, err, sizeof(err)), -1);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc;

	tc = tcase_create("values");
	tcase_add_test(tc, test_config_defaults_with_only_a_key);
	tcase_add_test(tc, test_config_state_dir_takes_first_of_STATE_DIRECTORY);
	tcase_add_test(tc, test_config_every_global_key_is_read);
	tcase_add_test(tc, test_config_every_key_field_is_read);
	tcase_add_test(tc, test_config_key_name_defaults_to_key_id);
	tcase_add_test(tc, test_config_per_key_overrides_merge_with_global);
	tcase_add_test(tc, test_config_key_find_by_name_or_arn);
	tcase_add_test(tc, test_config_alias_arn_is_reduced_to_alias_name);
	tcase_add_test(tc, test_config_http_listen_ipv6);
	tcase_add_test(tc, test_config_http_to_loopback_needs_no_allow_http);
	tcase_add_test(tc, test_config_renotify_zero_means_never);
	tcase_add_test(tc, test_config_expect_use_within_global_per_key_and_off);
	tcase_add_test(tc,
	    test_config_expect_use_within_under_an_hour_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("vendors");
	tcase_add_test(tc, test_config_builtin_vendor_is_loaded_once);
	tcase_add_test(tc, test_config_custom_vendor_becomes_struct_vendor);
	tcase_add_test(tc, test_config_custom_vendor_overrides_shipped);
	tcase_add_test(tc, test_config_custom_vendor_errors_are_specific);
	tcase_add_test(tc, test_config_unknown_vendor_lists_known_ones);
	tcase_add_test(tc, test_config_condition_operators_are_the_evaluators);
	suite_add_tcase(s, tc);

	tc = tcase_create("notifiers");
	tcase_add_test(tc, test_config_notifier_common_keys_and_block);
	tcase_add_test(tc, test_config_notifier_errors);
	tcase_add_test(tc,
	    test_config_without_notifiers_flag_leaves_them_unread);
	tcase_add_test(tc, test_config_notifier_name_rule);
	tcase_add_test(tc, test_config_second_notifier_of_a_type_needs_a_name);
	tcase_add_test(tc, test_config_one_duration_grammar_everywhere);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	/* 100,000 keys take seconds under the sanitizers. */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_config_unknown_key_suggests_closest);
	tcase_add_test(tc,
	    test_config_unknown_key_without_suggestion_lists_known);
	tcase_add_test(tc, test_config_http_max_connections_out_of_range);
	tcase_add_test(tc, test_config_bad_duration_names_its_node);
	tcase_add_test(tc, test_config_bad_arn_uses_arn_parse_message);
	tcase_add_test(tc, test_config_alias_arn_as_key_arn_is_refused);
	tcase_add_test(tc, test_config_alias_errors);
	tcase_add_test(tc, test_config_duplicate_yaml_key_from_ynode);
	tcase_add_test(tc, test_config_yaml_syntax_error_has_position);
	tcase_add_test(tc, test_config_duplicate_key_arn);
	tcase_add_test(tc, test_config_duplicate_key_name);
	tcase_add_test(tc, test_config_colliding_default_names_ask_for_a_name);
	tcase_add_test(tc, test_config_duplicates_among_many_keys);
	tcase_add_test(tc, test_config_max_keys_fit_the_file_limits);
	tcase_add_test(tc, test_config_empty_or_missing_key_list);
	tcase_add_test(tc, test_config_discover_section_needs_no_keys);
	tcase_add_test(tc, test_config_discover_errors_name_the_node);
	tcase_add_test(tc, test_config_wrong_types_say_what_was_expected);
	tcase_add_test(tc, test_config_booleans_are_true_or_false_only);
	tcase_add_test(tc, test_config_numbers_are_strict);
	tcase_add_test(tc, test_config_timeout_not_shorter_than_connect_timeout);
	tcase_add_test(tc, test_config_http_listen_errors);
	tcase_add_test(tc, test_config_plain_http_to_remote_needs_allow_http);
	tcase_add_test(tc, test_config_inline_secrets_refused_without_echo);
	tcase_add_test(tc, test_config_bad_role_arn);
	tcase_add_test(tc, test_config_all_errors_in_one_run_sorted);
	tcase_add_test(tc, test_config_errors_are_capped_but_counted);
	tcase_add_test(tc, test_config_sections_after_keys_apply_to_them);
	tcase_add_test(tc, test_config_same_endpoint);
	tcase_add_test(tc, test_config_missing_file_says_why);
	suite_add_tcase(s, tc);

	tc = tcase_create("output");
	tcase_add_test(tc, test_config_print_reads_back_the_same);
	tcase_add_test(tc,
	    test_config_print_names_notifier_options_without_values);
	tcase_add_test(tc, test_config_world_writable_file_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(config_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

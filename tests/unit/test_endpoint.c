/*
 * lib/endpoint: partitions, regions, loopback, the KMS and STS endpoints,
 * and the one strict URL parse that `validate` and `run` share.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "endpoint.h"
#include "notify_util.h"
#include "ynode.h"

#define KEYS1	"keys:\n  - arn: arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab\n"

static void
clear_env(void)
{
	unsetenv("AWS_ENDPOINT_URL_KMS");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
}

static const char *
ep(const struct endpoint_kms_cfg *cfg, const char *region,
    const char *partition)
{
	static char	url[600];
	char		err[512];

	if (endpoint_kms(cfg, region, partition, url, sizeof(url), err,
	    sizeof(err)) == -1)
		snprintf(url, sizeof(url), "ERR %s", err);
	return url;
}

/* The verdict of endpoint_url_parse(), or "OK". */
static const char *
parse(const char *url, int flags)
{
	static char	err[512];

	if (endpoint_url_parse(url, flags, NULL, err, sizeof(err)) == 0)
		return "OK";
	return err;
}

/* ---- facts ---- */

START_TEST(test_endpoint_partition_dns_suffix)
{
	ck_assert_str_eq(endpoint_partition_dns_suffix("aws"), "amazonaws.com");
	ck_assert_str_eq(endpoint_partition_dns_suffix("aws-cn"),
	    "amazonaws.com.cn");
	ck_assert_str_eq(endpoint_partition_dns_suffix("aws-us-gov"),
	    "amazonaws.com");
	ck_assert_ptr_null(endpoint_partition_dns_suffix("mars"));
	ck_assert_ptr_null(endpoint_partition_dns_suffix(NULL));
	ck_assert_str_eq(endpoint_region_partition("cn-northwest-1"), "aws-cn");
	ck_assert_str_eq(endpoint_region_partition("us-gov-east-1"),
	    "aws-us-gov");
	ck_assert_str_eq(endpoint_region_partition("us-east-1"), "aws");
}
END_TEST

START_TEST(test_endpoint_region_syntax)
{
	static const char * const good[] = { "eu-west-1", "us-gov-west-1",
	    "cn-north-1", "ap-southeast-2", "il-central-1", NULL };
	static const char * const bad[] = { "", "eu", "eu-west", "EU-west-1",
	    "eu--west-1", "-eu-west-1", "eu-west-1-", "eu-west-1.evil.com/x",
	    "eu_west_1", "a-b-123456789012345678901234567890", NULL };
	size_t	i;

	for (i = 0; good[i] != NULL; i++)
		ck_assert_msg(endpoint_region_ok(good[i]), "%s", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		ck_assert_msg(!endpoint_region_ok(bad[i]), "%s", bad[i]);
	ck_assert(!endpoint_region_ok(NULL));
}
END_TEST

START_TEST(test_endpoint_loopback_is_by_address_not_by_prefix)
{
	static const char * const yes[] = { "localhost", "LOCALHOST",
	    "localhost.", "127.0.0.1", "127.8.9.10", "::1",
	    "::ffff:127.0.0.1", NULL };
	static const char * const no[] = { "127.0.0.1.nip.io", "128.0.0.1",
	    "localhost.evil.com", "10.0.0.5", "::2", "kms.internal",
	    "127.example.com", NULL };
	size_t	i;

	for (i = 0; yes[i] != NULL; i++)
		ck_assert_msg(endpoint_host_is_loopback(yes[i]), "%s", yes[i]);
	for (i = 0; no[i] != NULL; i++)
		ck_assert_msg(!endpoint_host_is_loopback(no[i]), "%s", no[i]);
}
END_TEST

/* ---- URLs ---- */

/* Issue 13 item 9: URLs that can never work are refused. */
START_TEST(test_endpoint_url_refuses_urls_that_can_never_work)
{
	static const struct {
		const char	*url;
		const char	*why;
	} bad[] = {
		{ "http:///x",			"no host" },
		{ "http:/h/x",			"expected an http" },
		{ "https://",			"no host" },
		{ "http://h:99999/",		"port must be between 1 and" },
		{ "http://h:123456/",		"port must be between 1 and" },
		{ "http://h:0/",		"port must be between 1 and" },
		{ "http://h:/x",		"bad port" },
		{ "http://h:8x/",		"bad port" },
		{ "http://h/a\r\nb",		"control character" },
		{ "http://h/a b",		"white space" },
		{ "http://[::1/",		"bad IPv6 address" },
		{ "http://[]/",			"bad IPv6 address" },
		{ "http://[fe80::1%25eth0]/",	"bad IPv6 address" },
		{ "http://h%41/",		"bad character in the host" },
		{ "http://a,b/",		"bad character in the host" },
		{ "ftp://h/",			"expected an http" },
		{ "h/x",			"expected an http" },
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(strstr(parse(bad[i].url, 0), bad[i].why) != NULL,
		    "%zu: %s", i, parse(bad[i].url, 0));
}
END_TEST

START_TEST(test_endpoint_url_parts_are_what_curl_sends)
{
	struct endpoint_url	u;
	char			err[256];

	ck_assert_int_eq(endpoint_url_parse("HTTPS://Hooks.Slack.COM/services/"
	    "T0/B1/x/../TOKEN/./#frag", 0, &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.https, 1);
	ck_assert_int_eq(u.port, 443);
	ck_assert_str_eq(u.host, "hooks.slack.com");
	ck_assert_str_eq(u.hostport, "hooks.slack.com");
	ck_assert_str_eq(u.path, "/services/T0/B1/TOKEN/");
	ck_assert_str_eq(u.query, "");
	ck_assert_ptr_null(strchr(u.url, '#'));
	ck_assert_ptr_nonnull(strstr(u.url, "/services/T0/B1/TOKEN/"));

	ck_assert_int_eq(endpoint_url_parse("http://[::1]:4566", 0, &u, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_str_eq(u.hostport, "[::1]:4566");
	ck_assert_str_eq(u.path, "/");
	ck_assert_int_eq(u.port, 4566);

	ck_assert_int_eq(endpoint_url_parse("http://127.0.0.1:80/a?b=c", 0, &u,
	    err, sizeof(err)), 0);
	ck_assert_str_eq(u.hostport, "127.0.0.1");
	ck_assert_str_eq(u.query, "b=c");
	ck_assert_int_eq(u.userinfo, 0);
}
END_TEST

START_TEST(test_endpoint_url_flags)
{
	char	long_url[ENDPOINT_URL_MAX + 16];

	ck_assert_str_eq(parse("https://u:pw@h/", 0), "OK");
	ck_assert_str_eq(parse("https://u:pw@h/", ENDPOINT_NO_USERINFO),
	    "credentials in the URL are not allowed");
	ck_assert_ptr_nonnull(strstr(parse("https://h/?x=1", ENDPOINT_NO_QUERY),
	    "no query or fragment"));
	ck_assert_ptr_nonnull(strstr(parse("https://h/#x", ENDPOINT_NO_QUERY),
	    "no query or fragment"));
	ck_assert_str_eq(parse("http://10.0.0.1/", ENDPOINT_HTTP_LOOPBACK),
	    "plain http to '10.0.0.1', which is not loopback, is refused");
	ck_assert_str_eq(parse("http://127.1:1/", ENDPOINT_HTTP_LOOPBACK), "OK");
	/* A secret URL is never echoed. */
	ck_assert_str_eq(parse("http://h:99999/TOKEN", ENDPOINT_SECRET),
	    "port must be between 1 and 65535");
	ck_assert_ptr_nonnull(strstr(parse("http://h:99999/TOKEN", 0),
	    "TOKEN"));
	memset(long_url, 'a', sizeof(long_url) - 1);
	long_url[sizeof(long_url) - 1] = '\0';
	memcpy(long_url, "https://h/", 10);
	ck_assert_ptr_nonnull(strstr(parse(long_url, 0), "longer than"));
}
END_TEST

START_TEST(test_endpoint_url_shown_hides_credentials)
{
	char	*s;

	s = endpoint_url_shown("http://admin:pw@am.example.com:9093/x@y");
	ck_assert_str_eq(s, "http://***@am.example.com:9093/x@y");
	free(s);
	s = endpoint_url_shown("http://am.example.com/x@y");
	ck_assert_str_eq(s, "http://am.example.com/x@y");
	free(s);
}
END_TEST

/* ---- KMS and STS endpoints ---- */

START_TEST(test_endpoint_kms_default_per_partition)
{
	clear_env();
	ck_assert_str_eq(ep(NULL, "eu-west-1", "aws"),
	    "https://kms.eu-west-1.amazonaws.com");
	ck_assert_str_eq(ep(NULL, "cn-north-1", "aws-cn"),
	    "https://kms.cn-north-1.amazonaws.com.cn");
	ck_assert_str_eq(ep(NULL, "us-gov-west-1", "aws-us-gov"),
	    "https://kms.us-gov-west-1.amazonaws.com");
	/* Without a partition, the region's prefix tells. */
	ck_assert_str_eq(ep(NULL, "cn-northwest-1", NULL),
	    "https://kms.cn-northwest-1.amazonaws.com.cn");
	ck_assert_str_eq(ep(NULL, "ap-southeast-2", NULL),
	    "https://kms.ap-southeast-2.amazonaws.com");
	ck_assert_ptr_nonnull(strstr(ep(NULL, "eu-west-1", "aws-moon"),
	    "unknown partition"));
	ck_assert_ptr_nonnull(strstr(ep(NULL, "eu-west-1.evil.com/x", "aws"),
	    "bad region"));
	ck_assert_ptr_nonnull(strstr(ep(NULL, "", "aws"), "bad region"));
	ck_assert_ptr_nonnull(strstr(ep(NULL, NULL, "aws"), "bad region"));
}
END_TEST

START_TEST(test_endpoint_kms_fips)
{
	struct endpoint_kms_cfg	cfg = { .use_fips = 1 };

	clear_env();
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"),
	    "https://kms-fips.us-east-1.amazonaws.com");
	ck_assert_str_eq(ep(&cfg, "us-gov-east-1", "aws-us-gov"),
	    "https://kms-fips.us-gov-east-1.amazonaws.com");
	ck_assert_ptr_nonnull(strstr(ep(&cfg, "cn-north-1", "aws-cn"),
	    "no FIPS endpoint"));
	setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
	ck_assert_str_eq(ep(NULL, "ca-central-1", "aws"),
	    "https://kms-fips.ca-central-1.amazonaws.com");
	setenv("AWS_USE_FIPS_ENDPOINT", "false", 1);
	ck_assert_str_eq(ep(NULL, "ca-central-1", "aws"),
	    "https://kms.ca-central-1.amazonaws.com");
	clear_env();
}
END_TEST

START_TEST(test_endpoint_kms_overrides_in_order)
{
	struct endpoint_kms_cfg	cfg = { .endpoint_url =
				    "https://kms.example.com:8443/" };

	clear_env();
	setenv("AWS_ENDPOINT_URL", "https://generic.example.com", 1);
	ck_assert_str_eq(ep(NULL, "eu-west-1", "aws"),
	    "https://generic.example.com");
	setenv("AWS_ENDPOINT_URL_KMS", "https://kms-only.example.com//", 1);
	ck_assert_str_eq(ep(NULL, "eu-west-1", "aws"),
	    "https://kms-only.example.com");
	/* The config wins over the environment, and over FIPS. */
	setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
	ck_assert_str_eq(ep(&cfg, "eu-west-1", "aws"),
	    "https://kms.example.com:8443");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	ck_assert_str_eq(ep(NULL, "eu-west-1", "aws"),
	    "https://kms-fips.eu-west-1.amazonaws.com");
	clear_env();
}
END_TEST

START_TEST(test_endpoint_kms_plain_http_only_to_loopback)
{
	struct endpoint_kms_cfg	cfg = { 0 };

	clear_env();
	cfg.endpoint_url = "http://127.0.0.1:4566";
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"), "http://127.0.0.1:4566");
	cfg.endpoint_url = "http://127.8.9.10:4566/";
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"),
	    "http://127.8.9.10:4566");
	cfg.endpoint_url = "http://[::1]:4566";
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"), "http://[::1]:4566");
	cfg.endpoint_url = "http://LOCALHOST:4566";
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"), "http://LOCALHOST:4566");
	cfg.endpoint_url = "http://128.0.0.1";
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"),
	    "ERR endpoint_url: plain http to '128.0.0.1', which is not "
	    "loopback, is refused (use https, or set allow_http: true)");
	cfg.endpoint_url = "http://localhost.evil.com";
	ck_assert_ptr_nonnull(strstr(ep(&cfg, "us-east-1", "aws"), "ERR"));
	setenv("AWS_ENDPOINT_URL_KMS", "http://kms.internal:80", 1);
	ck_assert_ptr_nonnull(strstr(ep(NULL, "us-east-1", "aws"),
	    "AWS_ENDPOINT_URL_KMS: plain http"));
	cfg.endpoint_url = "http://kms.internal:8080";
	cfg.allow_http = 1;
	ck_assert_str_eq(ep(&cfg, "us-east-1", "aws"),
	    "http://kms.internal:8080");
	clear_env();
}
END_TEST

START_TEST(test_endpoint_sts)
{
	char	url[512], err[512];

	ck_assert_int_eq(endpoint_sts(NULL, 0, "cn-north-1", url, sizeof(url),
	    err, sizeof(err)), 0);
	ck_assert_str_eq(url, "https://sts.cn-north-1.amazonaws.com.cn");
	ck_assert_int_eq(endpoint_sts(NULL, 0, NULL, url, sizeof(url), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(url, "https://sts.us-east-1.amazonaws.com");
	ck_assert_int_eq(endpoint_sts("http://sts.internal/", 0, NULL, url,
	    sizeof(url), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not loopback"));
	ck_assert_int_eq(endpoint_sts("http://sts.internal/", 1, NULL, url,
	    sizeof(url), err, sizeof(err)), 0);
	ck_assert_str_eq(url, "http://sts.internal");
	ck_assert_int_eq(endpoint_sts(NULL, 0, "us-east-1;x", url,
	    sizeof(url), err, sizeof(err)), -1);
}
END_TEST

/* ---- validate and run: one verdict ---- */

/*
 * Each endpoint_url goes to what `validate` runs (config_load_buffer) and
 * to what `run` runs for each key (endpoint_kms(), as daemon/kh.c calls
 * it); both must agree, and agree with the table.
 */
START_TEST(test_endpoint_validate_and_run_agree_on_endpoint_url)
{
	static const struct {
		const char	*yaml;		/* as written in the file */
		const char	*url;		/* as the program sees it */
		int		 allow_http;
		int		 ok;
	} t[] = {
		{ "http://127.0.0.1:4566", "http://127.0.0.1:4566", 0, 1 },
		{ "http://127.0.0.1.nip.io:4566", "http://127.0.0.1.nip.io:4566",
		  0, 0 },
		{ "http://127.0.0.1.nip.io:4566", "http://127.0.0.1.nip.io:4566",
		  1, 1 },
		{ "http://localhost:4566/", "http://localhost:4566/", 0, 1 },
		{ "http://[::1]:4566", "http://[::1]:4566", 0, 1 },
		{ "http://127.1:4566", "http://127.1:4566", 0, 1 },
		{ "http://10.0.0.5:4566", "http://10.0.0.5:4566", 0, 0 },
		{ "https://kms.example.com:8443/", "https://kms.example.com:8443/",
		  0, 1 },
		{ "https://kms.example.com/?x=1", "https://kms.example.com/?x=1",
		  0, 0 },
		{ "https://kms.example.com/#x", "https://kms.example.com/#x",
		  0, 0 },
		{ "https://u:p@kms.example.com", "https://u:p@kms.example.com",
		  0, 0 },
		{ "http:///x", "http:///x", 1, 0 },
		{ "https://kms.example.com:99999", "https://kms.example.com:99999",
		  0, 0 },
		{ "https://kms.example.com:0", "https://kms.example.com:0", 0, 0 },
		{ "http://[::1/", "http://[::1/", 0, 0 },
		{ "\\\"https://kms.example.com/a\\r\\nX: y\\\"",
		  "https://kms.example.com/a\r\nX: y", 0, 0 },
		{ "ftp://127.0.0.1", "ftp://127.0.0.1", 0, 0 },
		{ "https://kms%2eexample.com", "https://kms%2eexample.com", 0,
		  0 },
	};
	struct endpoint_kms_cfg	 cfg;
	struct config_errors	 errs;
	struct config		*conf;
	char			 text[1024], url[512], err[512];
	size_t			 i;
	int			 val, run;

	clear_env();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&errs, 0, sizeof(errs));
		(void)snprintf(text, sizeof(text), "aws:\n  allow_http: %s\n"
		    "  endpoint_url: %s\n" KEYS1,
		    t[i].allow_http ? "true" : "false",
		    t[i].yaml[0] == '\\' ? t[i].yaml + 1 : t[i].yaml);
		/* The escaped quotes of the CR/LF row are YAML's. */
		if (t[i].yaml[0] == '\\') {
			char	*p;

			while ((p = strstr(text, "\\\"")) != NULL)
				memmove(p, p + 1, strlen(p));
		}
		conf = config_load_buffer("t.yaml", text, strlen(text), &errs);
		val = conf != NULL;
		if (conf != NULL)
			config_free(conf);
		config_errors_free(&errs);

		memset(&cfg, 0, sizeof(cfg));
		cfg.endpoint_url = t[i].url;
		cfg.allow_http = t[i].allow_http;
		run = endpoint_kms(&cfg, "eu-west-1", "aws", url, sizeof(url),
		    err, sizeof(err)) == 0;
		ck_assert_msg(val == run, "%s (allow_http %d): validate %s, "
		    "run %s", t[i].yaml, t[i].allow_http, val ? "accepts" :
		    "refuses", run ? "accepts" : "refuses");
		ck_assert_msg(run == t[i].ok, "%s: expected %s", t[i].yaml,
		    t[i].ok ? "accepted" : "refused");
	}
}
END_TEST

/* notify_util_check_url() with its error, if any, in err. */
static int
check_url(const struct ynode *block, const char *url, int secret, char *err,
    size_t errlen)
{
	struct notify_conf	 nc;
	struct notify_conf_text	 t;

	notify_conf_init_text(&nc, &t, err, errlen);
	return notify_util_check_url(block, "url", url, secret, &nc);
}

/* A notifier URL option: the parse the notifier's request uses too. */
START_TEST(test_endpoint_notifier_url_check)
{
	struct ynode		*block;
	char			 err[512], yerr[256];
	const char		*text = "url: x\n";

	block = ynode_parse("n.yaml", text, strlen(text), yerr, sizeof(yerr));
	ck_assert_ptr_nonnull(block);
	ck_assert_int_eq(check_url(block, "https://hooks.example.com/x", 0,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(check_url(block, "http:///x", 0, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "n.yaml:1:6: url: no host in 'http:///x'");
	ck_assert_int_eq(check_url(block,
	    "http://hooks.example.com:99999/SECRET", 1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "n.yaml:1:6: url: port must be between 1 and "
	    "65535");
	ck_assert_int_eq(check_url(block, "http://hooks.example.com/SECRET",
	    1, err, sizeof(err)), -1);
	ck_assert_ptr_null(strstr(err, "SECRET"));
	ck_assert_ptr_nonnull(strstr(err, "use https"));
	ynode_free(block);
}
END_TEST

static Suite *
endpoint_suite(void)
{
	Suite	*s = suite_create("endpoint");
	TCase	*tc;

	tc = tcase_create("facts");
	tcase_add_test(tc, test_endpoint_partition_dns_suffix);
	tcase_add_test(tc, test_endpoint_region_syntax);
	tcase_add_test(tc, test_endpoint_loopback_is_by_address_not_by_prefix);
	suite_add_tcase(s, tc);

	tc = tcase_create("url");
	tcase_add_test(tc, test_endpoint_url_refuses_urls_that_can_never_work);
	tcase_add_test(tc, test_endpoint_url_parts_are_what_curl_sends);
	tcase_add_test(tc, test_endpoint_url_flags);
	tcase_add_test(tc, test_endpoint_url_shown_hides_credentials);
	suite_add_tcase(s, tc);

	tc = tcase_create("aws");
	tcase_add_test(tc, test_endpoint_kms_default_per_partition);
	tcase_add_test(tc, test_endpoint_kms_fips);
	tcase_add_test(tc, test_endpoint_kms_overrides_in_order);
	tcase_add_test(tc, test_endpoint_kms_plain_http_only_to_loopback);
	tcase_add_test(tc, test_endpoint_sts);
	suite_add_tcase(s, tc);

	tc = tcase_create("agree");
	tcase_add_test(tc, test_endpoint_validate_and_run_agree_on_endpoint_url);
	tcase_add_test(tc, test_endpoint_notifier_url_check);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(endpoint_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

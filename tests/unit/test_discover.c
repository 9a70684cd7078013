/*
 * lib/discover (which vendor a policy names, key names, the verdict) and
 * the ListKeys answers of lib/kms (kms_discover.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "kms.h"
#include "policy.h"
#include "policy_testvendor.h"

/* A writable copy of a literal, for the structs lib/ fills itself. */
#define W(lit)	((char[]){ lit })

#define GS_EU	"347752291521"
#define GS_US	"157764733222"

static const char *
policy_naming(const char *principal)
{
	static char	buf[1024];

	(void)snprintf(buf, sizeof(buf), "{\"Version\": \"2012-10-17\", "
	    "\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": "
	    "{\"AWS\": \"arn:aws:iam::111122223333:root\"}, \"Action\": "
	    "\"kms:*\", \"Resource\": \"*\"}, {\"Effect\": \"Allow\", "
	    "\"Principal\": %s, \"Action\": \"kms:Decrypt\", \"Resource\": "
	    "\"*\"}]}", principal);
	return buf;
}

static int
names(const char *principal, const char *account)
{
	struct policy	*p;
	char		 err[256];
	const char	*text = policy_naming(principal);
	int		 r;

	p = policy_parse(text, strlen(text), err, sizeof(err));
	ck_assert_msg(p != NULL, "%s: %s", principal, err);
	r = discover_policy_names(p, account);
	policy_free(p);
	return r;
}

START_TEST(test_discover_policy_names_the_account_in_every_spelling)
{
	ck_assert_int_eq(names("{\"AWS\": \"arn:aws:iam::" GS_EU ":root\"}",
	    GS_EU), 1);
	ck_assert_int_eq(names("{\"AWS\": \"" GS_EU "\"}", GS_EU), 1);
	ck_assert_int_eq(names("{\"AWS\": [\"arn:aws:iam::1:root\", "
	    "\"arn:aws:iam::" GS_EU ":role/backup\"]}", GS_EU), 1);
	ck_assert_int_eq(names("{\"AWS\": \"arn:aws-cn:iam::" GS_EU
	    ":root\"}", GS_EU), 1);
}
END_TEST

START_TEST(test_discover_policy_does_not_name_others)
{
	/* Another account, a prefix of it, "*", a service: nobody. */
	ck_assert_int_eq(names("{\"AWS\": \"arn:aws:iam::" GS_US ":root\"}",
	    GS_EU), 0);
	ck_assert_int_eq(names("{\"AWS\": \"arn:aws:iam::" GS_EU "9:root\"}",
	    GS_EU), 0);
	ck_assert_int_eq(names("\"*\"", GS_EU), 0);
	ck_assert_int_eq(names("{\"Service\": \"" GS_EU "\"}", GS_EU), 0);
}
END_TEST

START_TEST(test_discover_not_principal_names_nobody)
{
	const char	*text = "{\"Statement\": [{\"Effect\": \"Deny\", "
	    "\"NotPrincipal\": {\"AWS\": \"" GS_EU "\"}, \"Action\": \"kms:*\","
	    " \"Resource\": \"*\"}]}";
	struct policy	*p;
	char		 err[256];

	p = policy_parse(text, strlen(text), err, sizeof(err));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(discover_policy_names(p, GS_EU), 0);
	policy_free(p);
}
END_TEST

START_TEST(test_discover_match_uses_the_region_account)
{
	struct vendor		*gs = tv_gearset();
	const struct vendor	*vs[1];
	char			 err[256];
	const char		*eu = policy_naming("{\"AWS\": \"" GS_EU "\"}");

	ck_assert_ptr_nonnull(gs);
	vs[0] = gs;
	ck_assert_int_eq(discover_match(eu, vs, 1, "eu-west-1", err,
	    sizeof(err)), 0);
	/* Gearset's eu-west-1 account named by a key in us-west-2. */
	ck_assert_int_eq(discover_match(eu, vs, 1, "us-west-2", err,
	    sizeof(err)), -1);
	/* A region the vendor does not serve. */
	ck_assert_int_eq(discover_match(eu, vs, 1, "us-east-1", err,
	    sizeof(err)), -1);
	ck_assert_int_eq(discover_match("{not json", vs, 1, "eu-west-1", err,
	    sizeof(err)), -2);
	ck_assert(err[0] != '\0');
	tv_free(gs);
}
END_TEST

START_TEST(test_discover_name_from_alias_within_the_rule)
{
	char	buf[DISCOVER_NAME_MAX + 1], longalias[300];

	discover_name("alias/gearset-backup", "k1", buf, sizeof(buf));
	ck_assert_str_eq(buf, "gearset-backup");
	discover_name("alias/team/prod_eu", "k1", buf, sizeof(buf));
	ck_assert_str_eq(buf, "team-prod_eu");
	discover_name(NULL, "1234abcd-12ab", buf, sizeof(buf));
	ck_assert_str_eq(buf, "1234abcd-12ab");
	memset(longalias, 'a', sizeof(longalias));
	memcpy(longalias, "alias/", 6);
	longalias[sizeof(longalias) - 1] = '\0';
	discover_name(longalias, "k1", buf, sizeof(buf));
	ck_assert_uint_eq(strlen(buf), DISCOVER_NAME_MAX);
}
END_TEST

static int
taken_ab(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "a") == 0 || strcmp(name, "a-2") == 0;
}

START_TEST(test_discover_name_unique_suffix)
{
	char	buf[DISCOVER_NAME_MAX + 1];

	(void)snprintf(buf, sizeof(buf), "a");
	ck_assert_int_eq(discover_name_unique(buf, sizeof(buf), taken_ab,
	    NULL), 0);
	ck_assert_str_eq(buf, "a-3");
	(void)snprintf(buf, sizeof(buf), "b");
	ck_assert_int_eq(discover_name_unique(buf, sizeof(buf), taken_ab,
	    NULL), 0);
	ck_assert_str_eq(buf, "b");
}
END_TEST

START_TEST(test_discover_alias_first_by_name_never_aws)
{
	struct kms_alias	a[4];
	const struct kms_alias	*best;

	memset(a, 0, sizeof(a));
	a[0].name = W("alias/zeta");
	a[0].target_key_id = W("k1");
	a[1].name = W("alias/aws/ebs");
	a[1].target_key_id = W("k1");
	a[2].name = W("alias/beta");
	a[2].target_key_id = W("k1");
	a[3].name = W("alias/alpha");
	a[3].target_key_id = W("k2");
	best = discover_alias(a, 4, "k1");
	ck_assert_ptr_nonnull(best);
	ck_assert_str_eq(best->name, "alias/beta");
	ck_assert_ptr_null(discover_alias(a, 4, "k3"));
}
END_TEST

START_TEST(test_discover_verdict_ok_and_missing)
{
	struct vendor		*gs = tv_gearset();
	struct kms_key_meta	 m;
	char			 buf[512];
	const char		*arn = "arn:aws:kms:eu-west-1:111122223333:key/k1";

	memset(&m, 0, sizeof(m));
	m.key_id = W("k1");
	m.arn = W("arn:aws:kms:eu-west-1:111122223333:key/k1");
	m.state = W("Enabled");
	m.key_spec = W("SYMMETRIC_DEFAULT");
	m.key_usage = W("ENCRYPT_DECRYPT");
	m.key_manager = W("CUSTOMER");
	m.enabled = 1;
	ck_assert_int_eq(discover_verdict(arn, &m, policy_naming(
	    "{\"AWS\": \"" GS_EU "\"}"), gs, buf, sizeof(buf)), 0);
	ck_assert_msg(strncmp(buf, "vendor-access-missing: ", 23) == 0,
	    "%s", buf);
	m.state = W("Disabled");
	ck_assert_int_eq(discover_verdict(arn, &m, policy_naming(
	    "{\"AWS\": \"" GS_EU "\"}"), gs, buf, sizeof(buf)), 0);
	ck_assert_msg(strncmp(buf, "key-disabled: ", 14) == 0, "%s", buf);
	tv_free(gs);
}
END_TEST

START_TEST(test_kms_parse_keys_pages_append)
{
	struct kms_listed_key	*k = NULL;
	struct kms_error	 e;
	char			*next = NULL;
	size_t			 n = 0;
	const char		*p1 = "{\"Keys\": [{\"KeyId\": \"a\", \"KeyArn\":"
	    " \"arn:aws:kms:eu-west-1:111122223333:key/a\"}], \"Truncated\":"
	    " true, \"NextMarker\": \"m1\"}";
	const char		*p2 = "{\"Keys\": [{\"KeyId\": \"b\", \"KeyArn\":"
	    " \"arn:aws:kms:eu-west-1:111122223333:key/b\"}], \"Truncated\":"
	    " false}";

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_parse_keys(p1, strlen(p1), &k, &n, &next, &e),
	    0);
	ck_assert_str_eq(next, "m1");
	free(next);
	ck_assert_int_eq(kms_parse_keys(p2, strlen(p2), &k, &n, &next, &e),
	    0);
	ck_assert_ptr_null(next);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(k[0].key_id, "a");
	ck_assert_str_eq(k[1].arn, "arn:aws:kms:eu-west-1:111122223333:key/b");
	kms_listed_keys_free(k, n);
}
END_TEST

START_TEST(test_kms_parse_keys_malformed_appends_nothing)
{
	struct kms_listed_key	*k = NULL;
	struct kms_error	 e;
	char			*next = NULL;
	size_t			 n = 0;
	const char		*bad[] = {
		"{\"Keys\": {}}",
		"{\"Keys\": [{\"KeyId\": \"a\"}]}",
		"{\"Keys\": [1]}",
		"{\"Keys\": [], \"Truncated\": true}",
		"[]",
		"",
	};
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		ck_assert_msg(kms_parse_keys(bad[i], strlen(bad[i]), &k, &n,
		    &next, &e) == -1, "%s", bad[i]);
		ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
		ck_assert_uint_eq(n, 0);
		ck_assert_ptr_null(next);
	}
	kms_listed_keys_free(k, n);
}
END_TEST

static Suite *
discover_suite(void)
{
	Suite	*s = suite_create("discover");
	TCase	*tc = tcase_create("discover");

	tcase_add_test(tc,
	    test_discover_policy_names_the_account_in_every_spelling);
	tcase_add_test(tc, test_discover_policy_does_not_name_others);
	tcase_add_test(tc, test_discover_not_principal_names_nobody);
	tcase_add_test(tc, test_discover_match_uses_the_region_account);
	tcase_add_test(tc, test_discover_name_from_alias_within_the_rule);
	tcase_add_test(tc, test_discover_name_unique_suffix);
	tcase_add_test(tc, test_discover_alias_first_by_name_never_aws);
	tcase_add_test(tc, test_discover_verdict_ok_and_missing);
	tcase_add_test(tc, test_kms_parse_keys_pages_append);
	tcase_add_test(tc, test_kms_parse_keys_malformed_appends_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(discover_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

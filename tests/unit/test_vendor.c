/*
 * Vendor profiles as data: the shipped file carries the vendor guide's
 * facts, vendors.d and the config override it in that order, and a bad
 * or missing vendor file is reported where it is.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "vendor.h"

#define KEY_EU	"keys:\n  - arn: arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab\n    vendor: gearset\n"
#define OVERRIDE "vendors:\n  gearset:\n    accounts: {eu-west-1: " \
		"\"999999999999\"}\n    require:\n      - actions: " \
		"[kms:Decrypt]\n"

static char	tmpdir[64];

static void
tmp_setup(void)
{
	(void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/khvendor.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
tmp_teardown(void)
{
	char	cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
put(const char *rel, const char *text)
{
	char	 path[256];
	FILE	*f;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static struct config *
load(struct config_errors *errs)
{
	char	path[256];

	(void)snprintf(path, sizeof(path), "%s/k.yaml", tmpdir);
	memset(errs, 0, sizeof(*errs));
	return config_load(path, errs);
}

START_TEST(test_vendor_gearset_accounts_per_region)
{
	char		 err[512];
	struct vendor	*v = config_vendor_load("gearset", err, sizeof(err));

	ck_assert_msg(v != NULL, "%s", err);
	ck_assert_str_eq(vendor_account(v, "eu-west-1"), "347752291521");
	ck_assert_str_eq(vendor_account(v, "us-west-2"), "157764733222");
	ck_assert_str_eq(vendor_account(v, "ap-southeast-2"), "178658833999");
	ck_assert_str_eq(vendor_account(v, "ca-central-1"), "877694686213");
	ck_assert_ptr_null(vendor_account(v, "us-east-1"));
	ck_assert_uint_eq(v->naccounts, 4);
	ck_assert_ptr_nonnull(strstr(v->source, "docs.gearset.com"));
	ck_assert_ptr_nonnull(v->date);
	ck_assert_ptr_nonnull(strstr(v->origin, "gearset.yaml"));
	ck_assert_int_eq(v->from, VENDOR_SHIPPED);
	vendor_free(v);
}
END_TEST

START_TEST(test_vendor_gearset_statements)
{
	char		 err[512];
	struct vendor	*v = config_vendor_load("gearset", err, sizeof(err));

	ck_assert_msg(v != NULL, "%s", err);
	ck_assert_uint_eq(v->ngroups, 2);
	ck_assert_uint_eq(v->groups[0].nactions, 5);
	ck_assert_str_eq(v->groups[0].actions[2], "kms:ReEncrypt*");
	ck_assert_uint_eq(v->groups[0].nconds, 0);
	ck_assert_uint_eq(v->groups[1].nactions, 3);
	ck_assert_uint_eq(v->groups[1].nconds, 1);
	ck_assert_str_eq(v->groups[1].conds[0].op, "Bool");
	ck_assert_str_eq(v->groups[1].conds[0].key,
	    "kms:GrantIsForAWSResource");
	ck_assert_str_eq(v->groups[1].conds[0].value, "true");
	ck_assert_str_eq(v->key_spec, "SYMMETRIC_DEFAULT");
	ck_assert_str_eq(v->key_usage, "ENCRYPT_DECRYPT");
	vendor_free(v);
}
END_TEST

START_TEST(test_vendor_unknown_name_is_null)
{
	char	err[512];

	ck_assert_ptr_null(config_vendor_load("acme", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no vendor profile 'acme'"));
	vendor_free(NULL);
}
END_TEST

START_TEST(test_vendor_same_compares_what_is_asked_not_where)
{
	char		 err[512];
	struct vendor	*a = config_vendor_load("gearset", err, sizeof(err));
	struct vendor	*b = config_vendor_load("gearset", err, sizeof(err));

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	free(b->origin);
	b->origin = NULL;
	b->from = VENDOR_LOCAL;
	ck_assert(vendor_same(a, b));
	b->accounts[0].account[11] ^= 1;
	ck_assert(!vendor_same(a, b));
	b->accounts[0].account[11] ^= 1;
	b->groups[1].conds[0].value[0] = 'T';
	ck_assert(!vendor_same(a, b));
	ck_assert(!vendor_same(a, NULL));
	ck_assert(vendor_same(NULL, NULL));
	vendor_free(a);
	vendor_free(b);
}
END_TEST

START_TEST(test_vendor_vendors_d_replaces_shipped)
{
	struct config_errors	 errs;
	struct config		*cfg;
	const struct vendor	*v;
	char			 path[256];

	(void)snprintf(path, sizeof(path), "%s/vendors.d", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	put("vendors.d/gearset.yaml", OVERRIDE);
	put("k.yaml", KEY_EU);
	cfg = load(&errs);
	ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
	v = config_vendor(cfg, "gearset");
	ck_assert_str_eq(vendor_account(v, "eu-west-1"), "999999999999");
	ck_assert_ptr_null(vendor_account(v, "us-west-2"));
	ck_assert_ptr_nonnull(strstr(v->origin, "/vendors.d/gearset.yaml"));
	ck_assert_int_eq(v->from, VENDOR_LOCAL);
	ck_assert_ptr_eq(cfg->keys[0].vendor, v);
	config_free(cfg);
}
END_TEST

START_TEST(test_vendor_config_beats_vendors_d)
{
	struct config_errors	 errs;
	struct config		*cfg;
	const struct vendor	*v;
	char			 path[256], origin[300];

	(void)snprintf(path, sizeof(path), "%s/vendors.d", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	put("vendors.d/gearset.yaml", OVERRIDE);
	put("k.yaml", "vendors:\n  gearset:\n    accounts: {eu-west-1: "
	    "\"888888888888\"}\n    require:\n      - actions: "
	    "[kms:Decrypt]\n" KEY_EU);
	cfg = load(&errs);
	ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
	v = config_vendor(cfg, "gearset");
	ck_assert_str_eq(vendor_account(v, "eu-west-1"), "888888888888");
	(void)snprintf(origin, sizeof(origin), "%s/k.yaml:2", tmpdir);
	ck_assert_str_eq(v->origin, origin);
	ck_assert_int_eq(v->from, VENDOR_CONFIG);
	config_free(cfg);
}
END_TEST

START_TEST(test_vendor_bad_file_error_has_position)
{
	struct config_errors	 errs;
	char			 path[256], want[400];

	(void)snprintf(path, sizeof(path), "%s/vendors.d", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	put("vendors.d/gearset.yaml", "vendors:\n  gearset:\n    accounts: "
	    "{eu-west-1: \"12345\"}\n    require:\n      - actions: "
	    "[kms:Decrypt]\n");
	put("k.yaml", KEY_EU);
	ck_assert_ptr_null(load(&errs));
	ck_assert_uint_ge(errs.n, 1);
	(void)snprintf(want, sizeof(want), "%s/vendors.d/gearset.yaml:3:27: "
	    "vendors.gearset.accounts: an AWS account is 12 digits, got "
	    "'12345'", tmpdir);
	ck_assert_str_eq(errs.msgs[0], want);
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_vendor_missing_dir_is_a_clear_error)
{
	struct config_errors	 errs;
	char			 want[400];

	ck_assert_int_eq(setenv("KEYHEALTHD_VENDOR_DIR", "/nonexistent/kh",
	    1), 0);
	put("k.yaml", KEY_EU);
	ck_assert_ptr_null(load(&errs));
	ck_assert_uint_eq(errs.n, 1);
	(void)snprintf(want, sizeof(want), "%s/k.yaml:3:13: keys[0].vendor: "
	    "unknown vendor 'gearset': the vendor profile directory cannot "
	    "be read (/nonexistent/kh: No such file or directory; set "
	    "KEYHEALTHD_VENDOR_DIR, or define it under vendors:)", tmpdir);
	ck_assert_str_eq(errs.msgs[0], want);
	config_errors_free(&errs);
}
END_TEST

static Suite *
vendor_suite(void)
{
	Suite	*s = suite_create("vendor");
	TCase	*tc = tcase_create("shipped");
	TCase	*tf = tcase_create("files");

	tcase_add_test(tc, test_vendor_gearset_accounts_per_region);
	tcase_add_test(tc, test_vendor_gearset_statements);
	tcase_add_test(tc, test_vendor_unknown_name_is_null);
	tcase_add_test(tc, test_vendor_same_compares_what_is_asked_not_where);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tf, tmp_setup, tmp_teardown);
	tcase_add_test(tf, test_vendor_vendors_d_replaces_shipped);
	tcase_add_test(tf, test_vendor_config_beats_vendors_d);
	tcase_add_test(tf, test_vendor_bad_file_error_has_position);
	tcase_add_test(tf, test_vendor_missing_dir_is_a_clear_error);
	suite_add_tcase(s, tf);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(vendor_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

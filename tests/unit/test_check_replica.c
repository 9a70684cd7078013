/*
 * Multi-Region keys, the pure parts: DescribeKey's MultiRegionConfiguration
 * (lib/kms), which replicas of a primary are watched and the primary's ARN
 * in a replica's findings (lib/check_replica), replicas: in the
 * configuration (lib/config).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_replica.h"
#include "config.h"
#include "kms.h"

#define S(x)	(x), strlen(x)

#define MRK	"mrk-1234abcd12ab34cd56ef1234567890ab"
#define P_ARN	"arn:aws:kms:eu-west-1:111122223333:key/" MRK
#define R_ARN	"arn:aws:kms:us-west-2:111122223333:key/" MRK
#define R2_ARN	"arn:aws:kms:ap-southeast-2:111122223333:key/" MRK

/* DescribeKey of a primary, its MultiRegionConfiguration as mrc. */
static char *
describe(const char *type, const char *mrc_rest)
{
	char	*s;

	ck_assert_int_ne(asprintf(&s, "{\"KeyMetadata\": {\"KeyId\": \"" MRK
	    "\", \"Arn\": \"" P_ARN "\", \"KeyState\": \"Enabled\", "
	    "\"KeySpec\": \"SYMMETRIC_DEFAULT\", \"KeyUsage\": "
	    "\"ENCRYPT_DECRYPT\", \"KeyManager\": \"CUSTOMER\", "
	    "\"MultiRegion\": true, \"MultiRegionConfiguration\": "
	    "{\"MultiRegionKeyType\": \"%s\"%s}}}", type, mrc_rest), -1);
	return s;
}

static int
parse(const char *type, const char *rest, struct kms_key_meta *m,
    struct kms_error *e)
{
	char	*body = describe(type, rest);
	int	 rc;

	memset(e, 0, sizeof(*e));
	rc = kms_parse_key_meta(S(body), m, e);
	free(body);
	return rc;
}

START_TEST(test_kms_parses_primary_and_replica_arns)
{
	struct kms_key_meta	m, c;
	struct kms_error	e;

	ck_assert_int_eq(parse("PRIMARY", ", \"PrimaryKey\": {\"Arn\": \""
	    P_ARN "\", \"Region\": \"eu-west-1\"}, \"ReplicaKeys\": ["
	    "{\"Arn\": \"" R_ARN "\", \"Region\": \"us-west-2\"}, "
	    "{\"Arn\": \"" R2_ARN "\", \"Region\": \"ap-southeast-2\"}]",
	    &m, &e), 0);
	ck_assert_str_eq(m.multi_region_type, "PRIMARY");
	ck_assert_str_eq(m.mr_primary_arn, P_ARN);
	ck_assert_uint_eq(m.mr_nreplicas, 2);
	ck_assert_str_eq(m.mr_replicas[0], R_ARN);
	ck_assert_str_eq(m.mr_replicas[1], R2_ARN);
	/* A deep copy: the copy outlives the original. */
	ck_assert_int_eq(kms_key_meta_copy(&c, &m), 0);
	kms_key_meta_free(&m);
	ck_assert_uint_eq(c.mr_nreplicas, 2);
	ck_assert_str_eq(c.mr_replicas[1], R2_ARN);
	ck_assert_str_eq(c.mr_primary_arn, P_ARN);
	kms_key_meta_free(&c);

	/* No replicas yet, or no configuration at all. */
	ck_assert_int_eq(parse("PRIMARY", ", \"ReplicaKeys\": []", &m, &e), 0);
	ck_assert_uint_eq(m.mr_nreplicas, 0);
	ck_assert_ptr_null(m.mr_replicas);
	kms_key_meta_free(&m);
}
END_TEST

START_TEST(test_kms_malformed_replica_lists_are_refused)
{
	static const char * const bad[] = {
		", \"ReplicaKeys\": {}",
		", \"ReplicaKeys\": [\"" R_ARN "\"]",
		", \"ReplicaKeys\": [{\"Region\": \"us-west-2\"}]",
		", \"ReplicaKeys\": [{\"Arn\": \"\"}]",
		", \"ReplicaKeys\": [{\"Arn\": \"" R_ARN "\"}, {\"Arn\": 7}]",
		", \"PrimaryKey\": [\"" P_ARN "\"]",
		", \"PrimaryKey\": {\"Arn\": null}",
	};
	struct kms_key_meta	m;
	struct kms_error	e;
	size_t			i;
	char			*many, *p;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse("PRIMARY", bad[i], &m, &e) == -1, "%s",
		    bad[i]);
		ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
		ck_assert_ptr_nonnull(strstr(e.message,
		    "MultiRegionConfiguration"));
		ck_assert_ptr_null(m.mr_replicas);
	}
	/* More replicas than KMS has Regions for. */
	many = calloc(KMS_MAX_REPLICAS + 1, 80);
	ck_assert_ptr_nonnull(many);
	p = many + sprintf(many, ", \"ReplicaKeys\": [");
	for (i = 0; i <= KMS_MAX_REPLICAS; i++)
		p += sprintf(p, "%s{\"Arn\": \"a%zu\"}", i ? "," : "", i);
	(void)sprintf(p, "]");
	ck_assert_int_eq(parse("PRIMARY", many, &m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.message, "more than"));
	free(many);
}
END_TEST

START_TEST(test_replica_list_keeps_only_replicas_of_this_key)
{
	struct kms_key_meta	m;
	struct kms_error	e;
	const char		*out[8];

	ck_assert_int_eq(parse("PRIMARY", ", \"ReplicaKeys\": ["
	    "{\"Arn\": \"" R_ARN "\"},"
	    /* the primary's own Region: not a replica */
	    "{\"Arn\": \"" P_ARN "\"},"
	    /* another account, another key id, an alias, nonsense */
	    "{\"Arn\": \"arn:aws:kms:us-west-2:444455556666:key/" MRK "\"},"
	    "{\"Arn\": \"arn:aws:kms:us-west-2:111122223333:key/mrk-0\"},"
	    "{\"Arn\": \"arn:aws:kms:us-west-2:111122223333:alias/x\"},"
	    "{\"Arn\": \"arn:aws-cn:kms:cn-north-1:111122223333:key/" MRK
	    "\"},"
	    "{\"Arn\": \"not an arn\"},"
	    /* repeated */
	    "{\"Arn\": \"" R_ARN "\"},"
	    "{\"Arn\": \"" R2_ARN "\"}]", &m, &e), 0);
	ck_assert_uint_eq(check_replica_list(&m, P_ARN, out, 8), 2);
	ck_assert_str_eq(out[0], R_ARN);
	ck_assert_str_eq(out[1], R2_ARN);
	/* At most max. */
	ck_assert_uint_eq(check_replica_list(&m, P_ARN, out, 1), 1);
	kms_key_meta_free(&m);

	/* A replica's list holds its siblings: a replica derives nothing. */
	ck_assert_int_eq(parse("REPLICA", ", \"PrimaryKey\": {\"Arn\": \""
	    P_ARN "\"}, \"ReplicaKeys\": [{\"Arn\": \"" R_ARN "\"}, "
	    "{\"Arn\": \"" R2_ARN "\"}]", &m, &e), 0);
	ck_assert_uint_eq(check_replica_list(&m, R_ARN, out, 8), 0);
	kms_key_meta_free(&m);
}
END_TEST

/* A snapshot of a Disabled multi-Region key of type type. */
static void
snapshot(struct key_snapshot *s, const char *arn, const char *type)
{
	memset(s, 0, sizeof(*s));
	s->polled_at = 1800000000;
	s->meta.key_id = strdup(MRK);
	s->meta.arn = strdup(arn);
	s->meta.state = strdup("Disabled");
	s->meta.key_spec = strdup("SYMMETRIC_DEFAULT");
	s->meta.key_usage = strdup("ENCRYPT_DECRYPT");
	s->meta.key_manager = strdup("CUSTOMER");
	s->meta.multi_region = 1;
	s->meta.multi_region_type = strdup(type);
	s->meta.mr_primary_arn = strdup(P_ARN);
}

static void
expect(struct key_expect *x, const char *arn, const char *region)
{
	memset(x, 0, sizeof(*x));
	x->id.arn = arn;
	x->id.name = "k";
	x->id.region = region;
	x->id.account = "111122223333";
}

START_TEST(test_findings_of_a_replica_name_its_primary)
{
	struct key_snapshot	s;
	struct key_expect	x;
	struct findings		fs;
	json_t			*j;

	/* Derived from its primary: exp->primary, whatever KMS says. */
	memset(&fs, 0, sizeof(fs));
	snapshot(&s, R_ARN, "REPLICA");
	expect(&x, R_ARN, "us-west-2");
	x.primary = "arn:aws:kms:eu-west-1:111122223333:key/" MRK;
	s.describe_err.cls = KMS_ERR_ACCESS_DENIED;
	ck_assert_int_eq(check_key(&s, NULL, &x, 1800000000, &fs), 0);
	ck_assert_uint_eq(fs.n, 1);
	ck_assert_str_eq(fs.v[0].check, CHECK_CHECK_FAILED);
	ck_assert_str_eq(json_string_value(json_object_get(fs.v[0].details,
	    "primary")), P_ARN);
	findings_clear(&fs);

	/* Configured as itself: the primary from its DescribeKey. */
	x.primary = NULL;
	s.describe_err.cls = KMS_OK;
	ck_assert_int_eq(check_key(&s, NULL, &x, 1800000000, &fs), 0);
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_DISABLED));
	ck_assert_str_eq(json_string_value(json_object_get(
	    findings_get(&fs, CHECK_KEY_DISABLED)->details, "primary")), P_ARN);
	j = check_key_json(&x, &s, &fs);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "primary")),
	    P_ARN);
	json_decref(j);
	findings_clear(&fs);
	check_snapshot_free(&s);

	/* A primary (or a single-Region key) has none. */
	snapshot(&s, P_ARN, "PRIMARY");
	expect(&x, P_ARN, "eu-west-1");
	ck_assert_int_eq(check_key(&s, NULL, &x, 1800000000, &fs), 0);
	ck_assert_ptr_null(json_object_get(
	    findings_get(&fs, CHECK_KEY_DISABLED)->details, "primary"));
	ck_assert_ptr_null(check_replica_primary(&x, &s));
	ck_assert_ptr_null(check_replica_primary(&x, NULL));
	j = check_key_json(&x, &s, &fs);
	ck_assert_ptr_null(json_object_get(j, "primary"));
	json_decref(j);
	findings_clear(&fs);
	check_snapshot_free(&s);
}
END_TEST

static struct config *
load(const char *text, struct config_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	return config_load_buffer("t.yaml", text, strlen(text), errs);
}

#define KEYS(a, b) \
	"keys:\n" \
	"  - arn: " P_ARN "\n" \
	"    name: a\n" \
	"    vendor: gearset\n" a \
	"  - arn: " R2_ARN "\n" \
	"    name: b\n" b

START_TEST(test_config_replicas_default_to_watch_for_vendor_keys)
{
	struct config_errors	 errs;
	struct config		*c;

	c = load("state_dir: /var/lib/kh-test\n" KEYS("", ""), &errs);
	ck_assert_msg(c != NULL, "%s", errs.n ? errs.msgs[0] : "");
	ck_assert_int_eq(config_key_replicas(c, &c->keys[0]), 1);
	ck_assert_int_eq(config_key_replicas(c, &c->keys[1]), 0);
	config_free(c);

	/* Global off, a key's own watch wins. */
	c = load("state_dir: /var/lib/kh-test\nreplicas: off\n"
	    KEYS("", "    replicas: watch\n"), &errs);
	ck_assert_msg(c != NULL, "%s", errs.n ? errs.msgs[0] : "");
	ck_assert_int_eq(config_key_replicas(c, &c->keys[0]), 0);
	ck_assert_int_eq(config_key_replicas(c, &c->keys[1]), 1);
	config_free(c);

	c = load("state_dir: /var/lib/kh-test\n" KEYS("    replicas: off\n", ""), &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(config_key_replicas(c, &c->keys[0]), 0);
	config_free(c);
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_config_replicas_bad_values_say_where)
{
	struct config_errors	 errs;

	ck_assert_ptr_null(load("state_dir: /var/lib/kh-test\nreplicas: wach\n"
	    KEYS("    replicas: yes\n", ""), &errs));
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_str_eq(errs.msgs[0], "t.yaml:2:11: replicas: unknown "
	    "value 'wach'; did you mean 'watch'?");
	ck_assert_ptr_nonnull(strstr(errs.msgs[1], "t.yaml:7:15: "
	    "keys[0].replicas: unknown value 'yes'"));
	config_errors_free(&errs);
}
END_TEST

static Suite *
replica_suite(void)
{
	Suite	*s = suite_create("check_replica");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_kms_parses_primary_and_replica_arns);
	tcase_add_test(tc, test_kms_malformed_replica_lists_are_refused);
	tcase_add_test(tc, test_replica_list_keeps_only_replicas_of_this_key);
	tcase_add_test(tc, test_findings_of_a_replica_name_its_primary);
	tcase_add_test(tc,
	    test_config_replicas_default_to_watch_for_vendor_keys);
	tcase_add_test(tc, test_config_replicas_bad_values_say_where);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(replica_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

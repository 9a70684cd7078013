/*
 * Grants: lib/kms_grants (ListGrants pages, canonical form, digest, diff)
 * and the checks of lib/check_grants (vendor-grant-revoked,
 * grant-changed, check-failed for ListGrants), from answers and
 * snapshots built by hand.
 */
#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "kms_grants.h"
#include "state.h"
#include "vendor.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define NOW	((time_t)1795000000)
#define VENDOR	"347752291521"		/* Gearset, eu-west-1 */
#define S(x)	(x), strlen(x)

/* Gearset's grant (an AWS service of the vendor's), the customer's own
 * role's and a backup tool's, as ListGrants lists them. */
#define G_VENDOR(id) \
	"{\"KeyId\":\"" ARN "\",\"GrantId\":\"" id "\",\"Name\":\"gs\"," \
	"\"CreationDate\":1795000000.25," \
	"\"GranteePrincipal\":\"arn:aws:iam::" VENDOR ":role/gearset-svc\"," \
	"\"IssuingAccount\":\"arn:aws:iam::" VENDOR ":root\"," \
	"\"Operations\":[\"GenerateDataKey\",\"Decrypt\",\"Encrypt\"]}"
#define G_VENDOR2(id) \
	"{\"GrantId\":\"" id "\",\"GranteePrincipal\":\"arn:aws:iam::" \
	VENDOR ":root\",\"IssuingAccount\":\"arn:aws:iam::111122223333:root\"," \
	"\"Operations\":[\"Decrypt\"]," \
	"\"Constraints\":{\"EncryptionContextSubset\":{\"org\":\"acme\"}}}"
#define G_ROLE(id) \
	"{\"GrantId\":\"" id "\",\"GranteePrincipal\":" \
	"\"arn:aws:iam::111122223333:role/app\",\"RetiringPrincipal\":" \
	"\"arn:aws:iam::111122223333:role/ops\",\"IssuingAccount\":" \
	"\"arn:aws:iam::111122223333:root\",\"Operations\":[\"Decrypt\"]}"
#define G_TOOL(id) \
	"{\"GrantId\":\"" id "\",\"GranteePrincipal\":" \
	"\"backup.amazonaws.com\",\"IssuingAccount\":" \
	"\"arn:aws:iam::111122223333:root\",\"Operations\":[\"Encrypt\"]}"

static json_t *
page(const char *body)
{
	struct kms_error	 e;
	json_t			*a = json_array();
	char			*next = NULL;

	ck_assert_ptr_nonnull(a);
	memset(&e, 0, sizeof(e));
	ck_assert_msg(kms_parse_grants(S(body), a, &next, &e) == 0, "%s",
	    e.message);
	free(next);
	return a;
}

/* --- kms_grants: pages and the canonical form --- */

START_TEST(test_grants_page_appends_the_canonical_form)
{
	struct kms_error	 e;
	json_t			*a = json_array(), *g;
	char			*next = NULL, *s;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(kms_parse_grants(S("{\"Grants\":[" G_VENDOR("g1") ","
	    G_ROLE("g2") "],\"Truncated\":true,\"NextMarker\":\"m2\"}"), a,
	    &next, &e), 0);
	ck_assert_str_eq(next, "m2");
	free(next);
	ck_assert_int_eq(kms_parse_grants(S("{\"Grants\":[" G_VENDOR2("g3")
	    "],\"Truncated\":false}"), a, &next, &e), 0);
	ck_assert_ptr_null(next);
	ck_assert_uint_eq(json_array_size(a), 3);
	/* The six fields kept, operations sorted; Name, CreationDate and
	 * KeyId dropped. */
	s = json_dumps(json_array_get(a, 0), JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(s, "{\"grantee\":\"arn:aws:iam::" VENDOR
	    ":role/gearset-svc\",\"id\":\"g1\",\"issuing_account\":"
	    "\"arn:aws:iam::" VENDOR ":root\",\"operations\":[\"Decrypt\","
	    "\"Encrypt\",\"GenerateDataKey\"]}");
	free(s);
	g = json_array_get(a, 1);
	ck_assert_str_eq(json_string_value(json_object_get(g, "retiring")),
	    "arn:aws:iam::111122223333:role/ops");
	g = json_array_get(a, 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    json_object_get(g, "constraints"), "EncryptionContextSubset"),
	    "org")), "acme");
	json_decref(a);
}
END_TEST

START_TEST(test_grants_malformed_page_appends_nothing)
{
	static const char *bad[] = {
		"{\"Grants\":[{\"GranteePrincipal\":\"x\"}]}",
		"{\"Grants\":[" G_ROLE("a") ",7]}",
		"{\"Grants\":[{\"GrantId\":\"a\",\"Operations\":[1]}]}",
		"{\"Grants\":[{\"GrantId\":\"a\",\"Operations\":\"Decrypt\"}]}",
		"{\"Grants\":[{\"GrantId\":\"a\",\"Constraints\":[]}]}",
		"{\"Grants\":[{\"GrantId\":\"a\",\"Constraints\":"
		    "{\"EncryptionContextEquals\":{\"k\":1}}}]}",
		"{\"Grants\":[],\"Truncated\":true}",
		"{\"Grants\":{}}",
		"[]",
	};
	struct kms_error	 e;
	json_t			*a = page("{\"Grants\":[" G_ROLE("a") "]}");
	char			*next = NULL;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		ck_assert_msg(kms_parse_grants(S(bad[i]), a, &next, &e) == -1,
		    "accepted %s", bad[i]);
		ck_assert_int_eq(e.cls, KMS_ERR_MALFORMED);
		ck_assert_ptr_null(next);
		ck_assert_uint_eq(json_array_size(a), 1);
	}
	json_decref(a);
}
END_TEST

START_TEST(test_grants_digest_ignores_order_and_ids)
{
	unsigned char	 m1[KMS_GRANTS_DIGEST_LEN], m2[KMS_GRANTS_DIGEST_LEN];
	json_t		*a = page("{\"Grants\":[" G_VENDOR("g1") "," G_ROLE("g2")
			    "," G_TOOL("g3") "]}");
	json_t		*b = page("{\"Grants\":[" G_TOOL("x3") "," G_VENDOR("x1")
			    "," G_ROLE("x2") "]}");
	json_t		*c = page("{\"Grants\":[" G_VENDOR("g1") ","
			    G_ROLE("g2") "]}");

	ck_assert_int_eq(kms_grants_digest(a, m1), 0);
	ck_assert_int_eq(kms_grants_digest(b, m2), 0);
	ck_assert_mem_eq(m1, m2, sizeof(m1));
	ck_assert_int_eq(kms_grants_digest(c, m2), 0);
	ck_assert(memcmp(m1, m2, sizeof(m1)) != 0);
	/* Sorting gives one order for both. */
	ck_assert_int_eq(kms_grants_sort(a), 0);
	ck_assert_int_eq(kms_grants_sort(b), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a,
	    0), "grantee")), json_string_value(json_object_get(
	    json_array_get(b, 0), "grantee")));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}
END_TEST

START_TEST(test_grants_diff_is_by_content)
{
	json_t	*base = page("{\"Grants\":[" G_VENDOR("g1") "," G_ROLE("g2")
		    "," G_ROLE("g2b") "]}");
	json_t	*cur = page("{\"Grants\":[" G_TOOL("g9") "," G_VENDOR("new")
		    "," G_ROLE("g2b") "]}");
	json_t	*rm, *add;

	ck_assert_int_eq(kms_grants_sort(base), 0);
	ck_assert_int_eq(kms_grants_sort(cur), 0);
	ck_assert_int_eq(kms_grants_diff(base, cur, &rm, &add), 0);
	/* The vendor's grant created again under a new id is no change; one
	 * of two identical role grants went; the tool's grant is new. */
	ck_assert_uint_eq(json_array_size(rm), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rm,
	    0), "grantee")), "arn:aws:iam::111122223333:role/app");
	ck_assert_uint_eq(json_array_size(add), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(add,
	    0), "id")), "g9");
	json_decref(rm);
	json_decref(add);
	json_decref(base);
	json_decref(cur);
}
END_TEST

START_TEST(test_grants_account_of_principals)
{
	char	buf[16];

	ck_assert_str_eq(kms_grants_account_of("arn:aws:iam::" VENDOR ":root",
	    buf, sizeof(buf)), VENDOR);
	ck_assert_str_eq(kms_grants_account_of("arn:aws:sts::" VENDOR
	    ":assumed-role/r/s", buf, sizeof(buf)), VENDOR);
	ck_assert_str_eq(kms_grants_account_of(VENDOR, buf, sizeof(buf)),
	    VENDOR);
	ck_assert_ptr_null(kms_grants_account_of("backup.amazonaws.com", buf,
	    sizeof(buf)));
	ck_assert_ptr_null(kms_grants_account_of("arn:aws:iam::12:root", buf,
	    sizeof(buf)));
	ck_assert_ptr_null(kms_grants_account_of("arn:aws:iam", buf,
	    sizeof(buf)));
	ck_assert_ptr_null(kms_grants_account_of(NULL, buf, sizeof(buf)));
}
END_TEST

START_TEST(test_grants_hex_round_trip)
{
	unsigned char	md[KMS_GRANTS_DIGEST_LEN], back[KMS_GRANTS_DIGEST_LEN];
	char		hex[KMS_GRANTS_HEX_LEN];
	size_t		i;

	for (i = 0; i < sizeof(md); i++)
		md[i] = (unsigned char)(i * 37 + 5);
	ck_assert_int_eq(kms_grants_unhex(kms_grants_hex(md, hex), back), 0);
	ck_assert_mem_eq(md, back, sizeof(md));
	ck_assert_int_eq(kms_grants_unhex("abc", back), -1);
	hex[3] = 'G';
	ck_assert_int_eq(kms_grants_unhex(hex, back), -1);
}
END_TEST

/* --- the checks --- */

static struct vendor		*gearset;
static struct key_expect	 want;
static struct key_snapshot	 snap;
static struct key_baseline	 base;
static struct findings		 fs;
static json_t			*base_set;

static void
setup(void)
{
	char	verr[512];

	gearset = config_vendor_load("gearset", verr, sizeof(verr));
	ck_assert_msg(gearset != NULL, "%s", verr);
	memset(&want, 0, sizeof(want));
	want.id.arn = ARN;
	want.id.name = "gearset-eu";
	want.id.region = "eu-west-1";
	want.id.account = "111122223333";
	want.vendor = gearset;
	memset(&snap, 0, sizeof(snap));
	memset(&base, 0, sizeof(base));
	memset(&fs, 0, sizeof(fs));
	snap.polled_at = NOW;
	snap.meta.arn = strdup(ARN);
	snap.meta.state = strdup("Enabled");
	snap.meta.key_spec = strdup("SYMMETRIC_DEFAULT");
	snap.meta.key_usage = strdup("ENCRYPT_DECRYPT");
	snap.meta.key_manager = strdup("CUSTOMER");
	snap.meta.enabled = 1;
	base_set = NULL;
}

static void
teardown(void)
{
	check_snapshot_free(&snap);
	check_baseline_free(&base);
	findings_clear(&fs);
	vendor_free(gearset);
	json_decref(base_set);
}

/* The baseline's grants, accepted as the daemon does. */
static void
accept(const char *body)
{
	struct key_grants	*g;

	json_decref(base_set);
	base_set = page(body);
	ck_assert_ptr_nonnull(g = check_grants_summary(base_set, VENDOR));
	check_grants_accept(&base, g, NOW - 86400);
	check_grants_free(g);
}

/* A poll that fetched body: summary, and the diff when it differs. */
static void
fetched(const char *body)
{
	json_t	*set = page(body);

	check_grants_free(snap.grants);
	snap.grants_known = 1;
	snap.grants_at = NOW;
	ck_assert_ptr_nonnull(snap.grants = check_grants_summary(set,
	    VENDOR));
	if (check_grants_need_diff(snap.grants, &base))
		ck_assert_int_eq(check_grants_diff(snap.grants, base_set, set,
		    NULL), 0);
	json_decref(set);
}

static void
run(void)
{
	findings_clear(&fs);
	ck_assert_int_eq(check_key(&snap, &base, &want, NOW, &fs), 0);
}

static const struct finding *
only(const char *id, enum severity sev)
{
	const struct finding	*f = findings_get(&fs, id);

	ck_assert_msg(fs.n == 1 && f != NULL, "want only %s, got %zu "
	    "findings, first %s", id, fs.n, fs.n ? fs.v[0].check : "none");
	ck_assert_str_eq(severity_name(f->severity), severity_name(sev));
	ck_assert_ptr_null(strchr(f->summary, '\n'));
	return f;
}

#define THREE	"{\"Grants\":[" G_VENDOR("g1") "," G_VENDOR2("g2") "," \
		G_ROLE("g3") "]}"

START_TEST(test_check_grants_same_set_is_quiet)
{
	accept(THREE);
	/* Listed in another order, the vendor's grant re-created. */
	fetched("{\"Grants\":[" G_ROLE("g3") "," G_VENDOR2("g2") ","
	    G_VENDOR("g1-new") "]}");
	ck_assert_uint_eq(snap.grants->n, 3);
	ck_assert_uint_eq(snap.grants->nvendor, 2);
	ck_assert(!check_grants_need_diff(snap.grants, &base));
	run();
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_check_grants_first_fetch_without_baseline_is_quiet)
{
	fetched(THREE);
	run();
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_check_vendor_grant_revoked_some_is_warning)
{
	const struct finding	*f;

	accept(THREE);
	fetched("{\"Grants\":[" G_VENDOR("g1") "," G_ROLE("g3") "]}");
	run();
	f = only(CHECK_VENDOR_GRANT_REVOKED, SEV_WARNING);
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "vendor_grants")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "vendor_grants_baseline")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(f->details,
	    "vendor_account")), VENDOR);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(f->details, "revoked"), 0), "id")), "g2");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
	    f->details, "diff"), 0)), "- grant g2 to arn:aws:iam::" VENDOR
	    ":root: Decrypt; issued by arn:aws:iam::111122223333:root; "
	    "constraints {\"EncryptionContextSubset\":{\"org\":\"acme\"}}");
	ck_assert_ptr_nonnull(strstr(f->summary, "1 grant of vendor gearset"));
}
END_TEST

START_TEST(test_check_vendor_grant_revoked_all_is_critical)
{
	const struct finding	*f;

	accept(THREE);
	fetched("{\"Grants\":[" G_ROLE("g3") "]}");
	run();
	f = only(CHECK_VENDOR_GRANT_REVOKED, SEV_CRITICAL);
	ck_assert_uint_eq(json_array_size(json_object_get(f->details,
	    "revoked")), 2);
	ck_assert_ptr_nonnull(strstr(f->summary, "every grant of vendor "
	    "gearset"));
}
END_TEST

START_TEST(test_check_grant_changed_other_principals)
{
	const struct finding	*f;
	json_t			*diff;

	accept(THREE);
	/* The role's grant gone, a tool's added; the vendor's intact. */
	fetched("{\"Grants\":[" G_VENDOR("g1") "," G_VENDOR2("g2") ","
	    G_TOOL("g4") "]}");
	run();
	f = only(CHECK_GRANT_CHANGED, SEV_WARNING);
	diff = json_object_get(f->details, "diff");
	ck_assert_uint_eq(json_array_size(diff), 2);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(diff,
	    0)), "- grant g3 to arn:aws:iam::111122223333:role/app: Decrypt"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(diff,
	    1)), "+ grant g4 to backup.amazonaws.com: Encrypt"));
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "added")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(f->details,
	    "removed")), 1);
}
END_TEST

START_TEST(test_check_grants_vendor_added_is_not_an_alarm)
{
	accept(THREE);
	fetched("{\"Grants\":[" G_VENDOR("g1") "," G_VENDOR2("g2") ","
	    G_ROLE("g3") ",{\"GrantId\":\"g5\",\"GranteePrincipal\":"
	    "\"arn:aws:iam::" VENDOR ":root\",\"Operations\":[\"Encrypt\"]}]}");
	run();
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_check_grants_without_vendor_are_all_grant_changed)
{
	want.vendor = NULL;
	accept(THREE);
	fetched("{\"Grants\":[" G_ROLE("g3") "]}");
	run();
	ck_assert_uint_eq(json_array_size(json_object_get(only(
	    CHECK_GRANT_CHANGED, SEV_WARNING)->details, "diff")), 2);
}
END_TEST

START_TEST(test_check_grants_both_findings_at_once)
{
	accept(THREE);
	fetched("{\"Grants\":[" G_TOOL("g4") "]}");
	run();
	ck_assert_uint_eq(fs.n, 2);
	ck_assert_int_eq(findings_get(&fs, CHECK_VENDOR_GRANT_REVOKED)->severity,
	    SEV_CRITICAL);
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_GRANT_CHANGED));
}
END_TEST

START_TEST(test_check_grants_list_failure_is_check_failed)
{
	const struct finding	*f;

	accept(THREE);
	snap.grants_known = 1;
	snap.grants_err = calloc(1, sizeof(*snap.grants_err));
	snap.grants_err->cls = KMS_ERR_ACCESS_DENIED;
	snprintf(snap.grants_err->code, sizeof(snap.grants_err->code),
	    "AccessDeniedException");
	run();
	f = only(CHECK_CHECK_FAILED, SEV_UNKNOWN);
	ck_assert_str_eq(json_string_value(json_object_get(f->details,
	    "operation")), "ListGrants");
	ck_assert_ptr_nonnull(strstr(f->summary, "kms:ListGrants"));
	/* A key that is not Enabled: its state is the news. */
	snap.grants_err->cls = KMS_ERR_INVALID_STATE;
	free(snap.meta.state);
	snap.meta.state = strdup("Disabled");
	snap.meta.enabled = 0;
	run();
	ck_assert_uint_eq(fs.n, 1);
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_KEY_DISABLED));
}
END_TEST

START_TEST(test_check_grants_failure_keeps_the_last_grants_findings)
{
	struct key_snapshot	 cur;
	json_t			*j, *gj;

	accept(THREE);
	fetched("{\"Grants\":[" G_ROLE("g3") "]}");
	/* The next fetch fails: check-failed, and the vendor's revoked
	 * grants are still reported from the last list. */
	memset(&cur, 0, sizeof(cur));
	cur.polled_at = NOW + 3600;
	ck_assert_int_eq(kms_key_meta_copy(&cur.meta, &snap.meta), 0);
	cur.grants_known = 1;
	cur.grants_at = NOW + 3600;
	cur.grants_err = calloc(1, sizeof(*cur.grants_err));
	cur.grants_err->cls = KMS_ERR_THROTTLED;
	snprintf(cur.grants_err->code, sizeof(cur.grants_err->code),
	    "ThrottlingException");
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	check_snapshot_free(&snap);
	snap = cur;
	run();
	ck_assert_uint_eq(fs.n, 2);
	ck_assert_int_eq(findings_get(&fs, CHECK_VENDOR_GRANT_REVOKED)->severity,
	    SEV_CRITICAL);
	ck_assert_ptr_nonnull(findings_get(&fs, CHECK_CHECK_FAILED));
	/* And check --json shows the last grants with the error. */
	j = check_key_json(&want, &snap, &fs);
	gj = json_object_get(j, "grants");
	ck_assert_int_eq(json_integer_value(json_object_get(gj, "count")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(gj, "error")),
	    "ThrottlingException");
	json_decref(j);
}
END_TEST

START_TEST(test_check_grants_unreadable_baseline_is_check_failed)
{
	json_t	*set = page("{\"Grants\":[" G_ROLE("g3") "]}");

	accept(THREE);
	snap.grants_known = 1;
	snap.grants = check_grants_summary(set, VENDOR);
	ck_assert_int_eq(check_grants_diff(snap.grants, NULL, set,
	    "moved aside"), 0);
	json_decref(set);
	run();
	ck_assert_str_eq(json_string_value(json_object_get(only(
	    CHECK_CHECK_FAILED, SEV_UNKNOWN)->details, "operation")),
	    "GrantsBaseline");
}
END_TEST

START_TEST(test_check_grants_carry_and_json)
{
	struct key_snapshot	 cur;
	json_t			*j, *gj;

	accept(THREE);
	fetched("{\"Grants\":[" G_ROLE("g3") "]}");
	memset(&cur, 0, sizeof(cur));
	ck_assert_int_eq(check_snapshot_carry(&cur, &snap), 0);
	ck_assert(cur.grants_known);
	ck_assert_uint_eq(cur.grants->n, 1);
	ck_assert_ptr_eq(cur.grants->removed, snap.grants->removed);
	check_snapshot_free(&cur);
	run();
	j = check_key_json(&want, &snap, &fs);
	gj = json_object_get(j, "grants");
	ck_assert_int_eq(json_integer_value(json_object_get(gj, "count")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(gj, "vendor")), 0);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(gj,
	    "digest"))), 64);
	json_decref(j);
	j = check_key_json(&want, NULL, &fs);
	ck_assert(json_is_null(json_object_get(j, "grants")));
	json_decref(j);
}
END_TEST


/* --- the baseline on disk (lib/state) --- */

/* The number of entries of dir whose name contains part. */
static int
entries(const char *dir, const char *part)
{
	DIR		*d = opendir(dir);
	struct dirent	*de;
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, part) != NULL;
	closedir(d);
	return n;
}

START_TEST(test_grants_baseline_file_round_trip_and_tamper)
{
	const char	*t = getenv("TMPDIR");
	char		 top[512], sdir[600], gdir[640], kname[64];
	char		 name[64], path[700], err[1024], cmd[600];
	unsigned char	 md[KMS_GRANTS_DIGEST_LEN], got[KMS_GRANTS_DIGEST_LEN];
	json_t		*set = page(THREE), *back = NULL, *j;
	FILE		*f;

	snprintf(top, sizeof(top), "%s/kh-grants-XXXXXX",
	    t != NULL && t[0] != '\0' ? t : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(sdir, sizeof(sdir), "%s/state", top);
	ck_assert_int_eq(state_dir_init(sdir, NULL, NULL, err, sizeof(err)),
	    0);
	ck_assert_int_eq(kms_grants_sort(set), 0);
	ck_assert_int_eq(kms_grants_digest(set, md), 0);
	ck_assert_int_eq(state_grants_filename(ARN, name, sizeof(name)), 0);
	/* Named as the key's file, in grants/. */
	ck_assert_int_eq(state_key_filename(ARN, kname, sizeof(kname)), 0);
	ck_assert_int_eq(strncmp(name, "grants/", 7), 0);
	ck_assert_str_eq(name + 7, kname + 5);
	ck_assert_ptr_nonnull(j = state_grants_to_json(ARN, set, md, NOW));
	ck_assert_int_eq(state_write_json(sdir, name, j, err, sizeof(err)), 0);
	json_decref(j);
	ck_assert_int_eq(state_grants_load(sdir, ARN, 1, &back, got, err,
	    sizeof(err)), STATE_READ_OK);
	ck_assert_mem_eq(md, got, sizeof(md));
	ck_assert(json_equal(back, set));
	json_decref(back);
	/* Another key's: absent. */
	ck_assert_int_eq(state_grants_load(sdir, ARN "x", 1, &back, got, err,
	    sizeof(err)), STATE_READ_ABSENT);
	/* Grants edited by hand no longer match their digest: reported by
	 * `check` (file left), moved aside by `run`. */
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	ck_assert_ptr_nonnull(j = json_load_file(path, 0, NULL));
	json_object_set_new(json_array_get(json_object_get(j, "grants"), 0),
	    "grantee", json_string("arn:aws:iam::999999999999:root"));
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_eq(json_dumpf(j, f, 0), 0);
	fclose(f);
	json_decref(j);
	ck_assert_int_eq(state_grants_load(sdir, ARN, 0, &back, got, err,
	    sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "digest"));
	snprintf(gdir, sizeof(gdir), "%s/grants", sdir);
	ck_assert_int_eq(entries(gdir, "corrupt"), 0);
	ck_assert_int_eq(state_grants_load(sdir, ARN, 1, &back, got, err,
	    sizeof(err)), STATE_READ_CORRUPT);
	ck_assert_ptr_null(back);
	ck_assert_int_eq(entries(gdir, "corrupt"), 1);
	json_decref(set);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_grants_baseline_digest_in_the_key_file)
{
	struct state_key	 k, back;
	struct key_grants	*g;
	json_t			*set = page(THREE), *j;
	char			 err[256];

	memset(&k, 0, sizeof(k));
	k.arn = strdup(ARN);
	ck_assert_ptr_nonnull(g = check_grants_summary(set, VENDOR));
	check_grants_accept(&k.baseline, g, NOW);
	ck_assert_ptr_nonnull(j = state_key_to_json(&k));
	ck_assert_int_eq(state_key_from_json(j, &back, err, sizeof(err)), 0);
	ck_assert(back.baseline.has_grants);
	ck_assert_mem_eq(back.baseline.grants_md, g->md, sizeof(g->md));
	ck_assert_uint_eq(back.baseline.grants_n, 3);
	ck_assert_uint_eq(back.baseline.grants_nvendor, 2);
	ck_assert_int_eq(back.baseline.grants_accepted_at, NOW);
	state_key_free(&back);
	/* A bad digest is a bad file. */
	json_object_set_new(json_object_get(json_object_get(j, "baseline"),
	    "grants"), "digest", json_string("xyz"));
	ck_assert_int_eq(state_key_from_json(j, &back, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "baseline.grants"));
	json_decref(j);
	/* No grants baseline: null, read back as none. */
	k.baseline.has_grants = 0;
	ck_assert_ptr_nonnull(j = state_key_to_json(&k));
	ck_assert(json_is_null(json_object_get(json_object_get(j, "baseline"),
	    "grants")));
	ck_assert_int_eq(state_key_from_json(j, &back, err, sizeof(err)), 0);
	ck_assert(!back.baseline.has_grants);
	state_key_free(&back);
	json_decref(j);
	check_grants_free(g);
	state_key_free(&k);
	json_decref(set);
}
END_TEST

static Suite *
grants_suite(void)
{
	Suite	*s = suite_create("grants");
	TCase	*tk = tcase_create("kms_grants");
	TCase	*tc = tcase_create("check");

	tcase_add_test(tk, test_grants_page_appends_the_canonical_form);
	tcase_add_test(tk, test_grants_malformed_page_appends_nothing);
	tcase_add_test(tk, test_grants_digest_ignores_order_and_ids);
	tcase_add_test(tk, test_grants_diff_is_by_content);
	tcase_add_test(tk, test_grants_account_of_principals);
	tcase_add_test(tk, test_grants_hex_round_trip);
	suite_add_tcase(s, tk);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_grants_same_set_is_quiet);
	tcase_add_test(tc,
	    test_check_grants_first_fetch_without_baseline_is_quiet);
	tcase_add_test(tc, test_check_vendor_grant_revoked_some_is_warning);
	tcase_add_test(tc, test_check_vendor_grant_revoked_all_is_critical);
	tcase_add_test(tc, test_check_grant_changed_other_principals);
	tcase_add_test(tc, test_check_grants_vendor_added_is_not_an_alarm);
	tcase_add_test(tc,
	    test_check_grants_without_vendor_are_all_grant_changed);
	tcase_add_test(tc, test_check_grants_both_findings_at_once);
	tcase_add_test(tc, test_check_grants_list_failure_is_check_failed);
	tcase_add_test(tc,
	    test_check_grants_failure_keeps_the_last_grants_findings);
	tcase_add_test(tc,
	    test_check_grants_unreadable_baseline_is_check_failed);
	tcase_add_test(tc, test_check_grants_carry_and_json);
	suite_add_tcase(s, tc);
	tc = tcase_create("state");
	tcase_add_test(tc, test_grants_baseline_file_round_trip_and_tamper);
	tcase_add_test(tc, test_grants_baseline_digest_in_the_key_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(grants_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

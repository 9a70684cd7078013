/*
 * Key policy evaluation: the table of real-world policies under
 * tests/policy/cases (one Check test per file), and focused tests of
 * matching, conditions, three-valued outcomes, canonical form and diff.
 * Run from the repo top.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "../../lib/config.h"
#include "../../lib/policy.h"
#include "policy_testvendor.h"

#define CASES_DIR	"tests/policy/cases"
#define GS_EU		"347752291521"
#define GS_ROOT		"arn:aws:iam::347752291521:root"
#define KEY_EU		"arn:aws:kms:eu-west-1:111122223333:key/" \
			"1234abcd-12ab-34cd-56ef-1234567890ab"

static char	**case_files;
static size_t	  ncase_files;

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

static void
load_case_list(void)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 len;
	char		**nv;

	if ((d = opendir(CASES_DIR)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		nv = realloc(case_files, (ncase_files + 1) * sizeof(*nv));
		if (nv == NULL)
			break;
		case_files = nv;
		case_files[ncase_files++] = strdup(de->d_name);
	}
	closedir(d);
	if (ncase_files > 0)
		qsort(case_files, ncase_files, sizeof(*case_files), name_cmp);
}

static struct policy *
parse_str(const char *s)
{
	char		 err[256];
	struct policy	*p;

	p = policy_parse(s, strlen(s), err, sizeof(err));
	ck_assert_msg(p != NULL, "parse failed: %s\n%s", err, s);
	return p;
}

static int
has_action(const struct policy_verdict *v, const char *action,
    enum policy_status st)
{
	size_t i;

	for (i = 0; i < v->nactions; i++)
		if (strcmp(v->actions[i].action, action) == 0 &&
		    v->actions[i].status == st)
			return 1;
	return 0;
}

/* ---- the table ---- */

START_TEST(test_case_table)
{
	const char	*file = case_files[_i];
	char		 path[512], err[512], *text = NULL;
	char		 keyarn[256];
	json_t		*c, *pj, *vj, *e;
	json_error_t	 jerr;
	struct policy	*p;
	struct vendor	*v;
	struct policy_verdict verdict;
	const char	*expect, *region, *account, *karn;
	size_t		 i, j, nmissing;
	int		 r, found;

	(void)snprintf(path, sizeof(path), "%s/%s", CASES_DIR, file);
	c = json_load_file(path, 0, &jerr);
	ck_assert_msg(c != NULL, "%s: %s", file, jerr.text);
	expect = json_string_value(json_object_get(c, "expect"));
	region = json_string_value(json_object_get(c, "region"));
	ck_assert_msg(expect != NULL && region != NULL,
	    "%s: needs expect and region", file);
	if ((pj = json_object_get(c, "policy_text")) != NULL)
		text = strdup(json_string_value(pj));
	else
		text = json_dumps(json_object_get(c, "policy"),
		    JSON_ENCODE_ANY | JSON_INDENT(2));
	ck_assert_msg(text != NULL, "%s: no policy", file);

	p = policy_parse(text, strlen(text), err, sizeof(err));
	if (strcmp(expect, "error") == 0) {
		ck_assert_msg(p == NULL, "%s: parsed, expected an error", file);
		json_array_foreach(json_object_get(c, "error_contains"), i, e)
			ck_assert_msg(strstr(err, json_string_value(e)) != NULL,
			    "%s: error \"%s\" lacks \"%s\"", file, err,
			    json_string_value(e));
		free(text);
		json_decref(c);
		return;
	}
	ck_assert_msg(p != NULL, "%s: parse failed: %s", file, err);

	vj = json_object_get(c, "vendor");
	if (json_is_string(vj)) {
		ck_assert_msg(strcmp(json_string_value(vj), "gearset") == 0,
		    "%s: unknown vendor", file);
		v = config_vendor_load("gearset", err, sizeof(err));
	} else
		v = tv_from_json(vj);
	ck_assert_msg(v != NULL, "%s: bad vendor", file);
	account = vendor_account(v, region);
	ck_assert_msg(account != NULL, "%s: vendor has no account in %s",
	    file, region);
	if ((karn = json_string_value(json_object_get(c, "key_arn"))) == NULL) {
		(void)snprintf(keyarn, sizeof(keyarn), "arn:aws:kms:%s:"
		    "111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		    region);
		karn = keyarn;
	}

	r = policy_vendor_access(p, v, account, karn, &verdict);
	ck_assert_msg(r >= 0, "%s: policy_vendor_access failed", file);
	ck_assert_msg(strcmp(policy_status_name(verdict.status), expect) == 0,
	    "%s: got %s, expected %s: %s", file,
	    policy_status_name(verdict.status), expect,
	    verdict.reason ? verdict.reason : "(no reason)");
	ck_assert_int_eq(r, (int)verdict.status);
	if (verdict.status != POLICY_STATUS_OK) {
		/* Every verdict names an action and a statement or says
		 * that none exists. */
		ck_assert_msg(verdict.reason != NULL &&
		    strstr(verdict.reason, "kms:") != NULL &&
		    strstr(verdict.reason, "statement") != NULL,
		    "%s: reason does not name action and statement: %s", file,
		    verdict.reason ? verdict.reason : "(null)");
	} else
		ck_assert_ptr_null(verdict.reason);
	json_array_foreach(json_object_get(c, "reason_contains"), i, e)
		ck_assert_msg(strstr(verdict.reason ? verdict.reason : "",
		    json_string_value(e)) != NULL,
		    "%s: reason \"%s\" lacks \"%s\"", file,
		    verdict.reason ? verdict.reason : "",
		    json_string_value(e));
	if ((pj = json_object_get(c, "missing_actions")) != NULL) {
		nmissing = 0;
		for (j = 0; j < verdict.nactions; j++)
			if (verdict.actions[j].status == POLICY_STATUS_MISSING)
				nmissing++;
		json_array_foreach(pj, i, e)
			ck_assert_msg(has_action(&verdict, json_string_value(e),
			    POLICY_STATUS_MISSING), "%s: %s not reported "
			    "missing", file, json_string_value(e));
		ck_assert_msg(nmissing == json_array_size(pj),
		    "%s: %zu actions missing, expected %zu (%s)", file,
		    nmissing, json_array_size(pj), verdict.reason);
	}
	if ((pj = json_object_get(c, "denied_by")) != NULL) {
		found = 0;
		for (j = 0; j < verdict.nactions; j++)
			if (verdict.actions[j].denied_by != NULL &&
			    strcmp(verdict.actions[j].denied_by,
			    json_string_value(pj)) == 0)
				found = 1;
		ck_assert_msg(found, "%s: no action denied by %s", file,
		    json_string_value(pj));
	}
	if ((pj = json_object_get(c, "granted_by")) != NULL) {
		found = 0;
		for (j = 0; j < verdict.nactions; j++)
			if (verdict.actions[j].status != POLICY_STATUS_OK &&
			    verdict.actions[j].granted_by != NULL &&
			    strcmp(verdict.actions[j].granted_by,
			    json_string_value(pj)) == 0)
				found = 1;
		ck_assert_msg(found, "%s: no missing action names %s as the "
		    "statement that would grant it", file,
		    json_string_value(pj));
	}

	/* Whatever the verdict, canonical form and diff must work and a
	 * policy must equal itself. */
	ck_assert_int_eq(policy_equal(p, p), 1);

	policy_verdict_free(&verdict);
	vendor_free(v);
	policy_free(p);
	free(text);
	json_decref(c);
}
END_TEST

START_TEST(test_table_has_at_least_60_cases)
{
	ck_assert_msg(ncase_files >= 60, "only %zu cases in %s (run from the "
	    "repo top)", ncase_files, CASES_DIR);
}
END_TEST

/* The table runs against the shipped profile; it must be the guide's. */
START_TEST(test_shipped_gearset_is_the_guide)
{
	char		 verr[512];
	struct vendor	*b = config_vendor_load("gearset", verr, sizeof(verr));
	struct vendor	*g = tv_gearset();
	size_t		 i, j;

	ck_assert_msg(b != NULL, "%s", verr);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(b->naccounts, g->naccounts);
	for (i = 0; i < g->naccounts; i++)
		ck_assert_str_eq(vendor_account(b, g->accounts[i].region),
		    g->accounts[i].account);
	ck_assert_uint_eq(b->ngroups, g->ngroups);
	for (i = 0; i < g->ngroups; i++) {
		ck_assert_uint_eq(b->groups[i].nactions, g->groups[i].nactions);
		for (j = 0; j < g->groups[i].nactions; j++)
			ck_assert_str_eq(b->groups[i].actions[j],
			    g->groups[i].actions[j]);
		ck_assert_uint_eq(b->groups[i].nconds, g->groups[i].nconds);
		for (j = 0; j < g->groups[i].nconds; j++) {
			ck_assert_str_eq(b->groups[i].conds[j].op,
			    g->groups[i].conds[j].op);
			ck_assert_str_eq(b->groups[i].conds[j].key,
			    g->groups[i].conds[j].key);
			ck_assert_str_eq(b->groups[i].conds[j].value,
			    g->groups[i].conds[j].value);
		}
	}
	vendor_free(b);
	tv_free(g);
}
END_TEST

/* ---- matching ---- */

START_TEST(test_match_wildcards_and_case)
{
	ck_assert(policy_match("kms:ReEncrypt*", "kms:ReEncryptFrom", 1));
	ck_assert(policy_match("kms:reencrypt*", "KMS:ReEncryptTo", 1));
	ck_assert(!policy_match("kms:ReEncrypt*", "kms:Encrypt", 1));
	ck_assert(policy_match("kms:*", "kms:Decrypt", 1));
	ck_assert(policy_match("*", "anything", 1));
	ck_assert(policy_match("kms:ListGrant?", "kms:ListGrants", 1));
	ck_assert(!policy_match("kms:ListGrant?", "kms:ListGrant", 1));
	ck_assert(policy_match("kms:*crypt*", "kms:GenerateDataKey", 1) == 0);
	ck_assert(policy_match("kms:*crypt*", "kms:ReEncryptTo", 1));
	ck_assert(!policy_match("arn:aws:kms:*:1:key/A", "arn:aws:kms:x:1:key/a",
	    0));
	ck_assert(policy_match("a*b*c*d", "aXXbYYcZZd", 0));
	ck_assert(!policy_match("a*b*c*d", "aXXbYYcZZ", 0));
}
END_TEST

START_TEST(test_match_pathological_pattern_is_fast)
{
	char pat[200], s[4000];

	memset(pat, 0, sizeof(pat));
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	for (size_t i = 0; i < 98; i += 2) {
		pat[i] = 'a';
		pat[i + 1] = '*';
	}
	pat[98] = 'b';
	ck_assert(!policy_match(pat, s, 0));
}
END_TEST

/* ---- evaluation ---- */

static const char eval_policy[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"Acct\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},"
    " \"Action\":\"kms:Decrypt\",\"Resource\":\"*\"},"
    "{\"Sid\":\"Role\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
    " \"arn:aws:iam::444455556666:role/R\"},\"Action\":\"kms:Encrypt\","
    " \"Resource\":\"*\"}]}";

static int
eval1(const struct policy *p, const char *principal, const char *action,
    const struct policy_ctx *ctx, size_t nctx, int closed,
    struct policy_decision *d)
{
	struct policy_request req = { principal, action, KEY_EU, ctx, nctx,
	    closed };

	return policy_eval(p, &req, d);
}

START_TEST(test_eval_account_principal_covers_root_bare_and_inside)
{
	struct policy		*p = parse_str(eval_policy);
	struct policy_decision	 d;

	ck_assert_int_eq(eval1(p, "111122223333", "kms:Decrypt", NULL, 0, 1,
	    &d), POLICY_ALLOWED);
	ck_assert_int_eq(eval1(p, "arn:aws:iam::111122223333:root",
	    "kms:decrypt", NULL, 0, 1, &d), POLICY_ALLOWED);
	ck_assert_int_eq(eval1(p, "arn:aws:iam::111122223333:role/App",
	    "kms:Decrypt", NULL, 0, 1, &d), POLICY_ALLOWED);
	ck_assert_int_eq(eval1(p, "arn:aws:iam::999999999999:root",
	    "kms:Decrypt", NULL, 0, 1, &d), POLICY_IMPLICIT_DENY);
	policy_free(p);
}
END_TEST

START_TEST(test_eval_role_principal_does_not_cover_its_account)
{
	struct policy		*p = parse_str(eval_policy);
	struct policy_decision	 d;

	ck_assert_int_eq(eval1(p, "arn:aws:iam::444455556666:role/R",
	    "kms:Encrypt", NULL, 0, 1, &d), POLICY_ALLOWED);
	ck_assert_int_eq(eval1(p, "444455556666", "kms:Encrypt", NULL, 0, 1,
	    &d), POLICY_IMPLICIT_DENY);
	ck_assert_ptr_nonnull(strstr(d.reason,
	    "statement 'Role' allows it only for arn:aws:iam::444455556666:role/R"));
	policy_free(p);
}
END_TEST

START_TEST(test_eval_notprincipal_excludes_only_named)
{
	struct policy *p = parse_str("{\"Statement\":["
	    "{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\"},"
	    "{\"Sid\":\"D\",\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":"
	    "\"111122223333\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}");
	struct policy_decision d;

	ck_assert_int_eq(eval1(p, "111122223333", "kms:Decrypt", NULL, 0, 1,
	    &d), POLICY_ALLOWED);
	/* IAM: naming only the account in NotPrincipal does not exempt
	 * the account's roles. */
	ck_assert_int_eq(eval1(p, "arn:aws:iam::111122223333:role/x",
	    "kms:Decrypt", NULL, 0, 1, &d), POLICY_EXPLICIT_DENY);
	ck_assert_int_eq(eval1(p, "222233334444", "kms:Decrypt", NULL, 0, 1,
	    &d), POLICY_EXPLICIT_DENY);
	ck_assert_ptr_nonnull(strstr(d.reason, "statement 'D' denies it"));
	policy_free(p);
}
END_TEST

START_TEST(test_eval_resource_other_key_and_unknown_key)
{
	struct policy *p = parse_str("{\"Statement\":[{\"Effect\":\"Allow\","
	    "\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":"
	    "\"arn:aws:kms:eu-west-1:111122223333:key/other\"}]}");
	struct policy_decision d;
	struct policy_request req = { "111122223333", "kms:Decrypt", NULL,
	    NULL, 0, 1 };

	ck_assert_int_eq(eval1(p, "111122223333", "kms:Decrypt", NULL, 0, 1,
	    &d), POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(policy_eval(p, &req, &d), POLICY_CANNOT_TELL);
	policy_free(p);
}
END_TEST

START_TEST(test_eval_deny_cannot_tell_beats_allow)
{
	struct policy *p = parse_str("{\"Statement\":["
	    "{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":\"*\","
	    "\"Action\":\"kms:*\"},"
	    "{\"Sid\":\"D\",\"Effect\":\"Deny\",\"Principal\":\"*\","
	    "\"Action\":\"kms:*\",\"Condition\":{\"IpAddress\":"
	    "{\"aws:SourceIp\":\"10.0.0.0/8\"}}}]}");
	struct policy_decision d;

	ck_assert_int_eq(eval1(p, "111122223333", "kms:Decrypt", NULL, 0, 0,
	    &d), POLICY_CANNOT_TELL);
	ck_assert_ptr_eq(d.deciding, &p->stmts[1]);
	ck_assert_ptr_nonnull(strstr(d.reason, "aws:SourceIp"));
	policy_free(p);
}
END_TEST

START_TEST(test_eval_definite_deny_beats_unknown_allow)
{
	struct policy *p = parse_str("{\"Statement\":["
	    "{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":\"*\","
	    "\"Action\":\"kms:*\",\"Condition\":{\"StringEquals\":"
	    "{\"aws:PrincipalOrgID\":\"o-1\"}}},"
	    "{\"Sid\":\"D\",\"Effect\":\"Deny\",\"Principal\":\"*\","
	    "\"Action\":\"kms:Decrypt\"}]}");
	struct policy_decision d;

	ck_assert_int_eq(eval1(p, "111122223333", "kms:Decrypt", NULL, 0, 0,
	    &d), POLICY_EXPLICIT_DENY);
	ck_assert_int_eq(eval1(p, "111122223333", "kms:Encrypt", NULL, 0, 0,
	    &d), POLICY_CANNOT_TELL);
	policy_free(p);
}
END_TEST

START_TEST(test_eval_unknown_allow_with_definite_allow_is_allowed)
{
	struct policy *p = parse_str("{\"Statement\":["
	    "{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
	    "\"Condition\":{\"StringEquals\":{\"aws:SourceVpc\":\"vpc-1\"}}},"
	    "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},"
	    "\"Action\":\"kms:*\"}]}");
	struct policy_decision d;

	ck_assert_int_eq(eval1(p, "111122223333", "kms:Decrypt", NULL, 0, 0,
	    &d), POLICY_ALLOWED);
	ck_assert_ptr_nonnull(strstr(d.reason, "statement #2"));
	policy_free(p);
}
END_TEST

/* One condition against a context; returns the decision. */
static int
cond1(const char *cond, const struct policy_ctx *ctx, size_t nctx, int closed)
{
	char			 buf[1024];
	struct policy		*p;
	struct policy_decision	 d;
	int			 r;

	(void)snprintf(buf, sizeof(buf), "{\"Statement\":{\"Effect\":"
	    "\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
	    "\"Condition\":%s}}", cond);
	p = parse_str(buf);
	r = eval1(p, "111122223333", "kms:Decrypt", ctx, nctx, closed, &d);
	policy_free(p);
	return r;
}

START_TEST(test_cond_string_operators)
{
	struct policy_ctx ctx[] = { { "kms:CallerAccount", "111122223333" } };

	ck_assert_int_eq(cond1("{\"StringEquals\":{\"kms:CallerAccount\":"
	    "\"111122223333\"}}", ctx, 1, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"StringEquals\":{\"KMS:CALLERACCOUNT\":"
	    "[\"1\",\"111122223333\"]}}", ctx, 1, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"StringNotEquals\":{\"kms:CallerAccount\":"
	    "\"111122223333\"}}", ctx, 1, 1), POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"StringLike\":{\"kms:CallerAccount\":"
	    "\"1111?2*\"}}", ctx, 1, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"StringNotLike\":{\"kms:CallerAccount\":"
	    "\"2*\"}}", ctx, 1, 1), POLICY_ALLOWED);
}
END_TEST

START_TEST(test_cond_ignorecase)
{
	struct policy_ctx ctx[] = { { "aws:PrincipalType", "Account" } };

	ck_assert_int_eq(cond1("{\"StringEqualsIgnoreCase\":"
	    "{\"aws:PrincipalType\":\"ACCOUNT\"}}", ctx, 1, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"StringEquals\":"
	    "{\"aws:PrincipalType\":\"ACCOUNT\"}}", ctx, 1, 1),
	    POLICY_IMPLICIT_DENY);
}
END_TEST

START_TEST(test_cond_absent_key_semantics)
{
	/* Key absent (closed context): positive false, negated true,
	 * IfExists true, ForAnyValue false, ForAllValues true. */
	ck_assert_int_eq(cond1("{\"StringEquals\":{\"kms:ViaService\":\"x\"}}",
	    NULL, 0, 1), POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"StringNotEquals\":{\"kms:ViaService\":"
	    "\"x\"}}", NULL, 0, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"StringEqualsIfExists\":{\"kms:ViaService\":"
	    "\"x\"}}", NULL, 0, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"ForAnyValue:StringEquals\":"
	    "{\"kms:EncryptionContextKeys\":\"x\"}}", NULL, 0, 1),
	    POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"ForAllValues:StringEquals\":"
	    "{\"kms:EncryptionContextKeys\":\"x\"}}", NULL, 0, 1),
	    POLICY_ALLOWED);
}
END_TEST

START_TEST(test_cond_unknown_key_cannot_tell)
{
	ck_assert_int_eq(cond1("{\"StringEquals\":{\"aws:PrincipalOrgID\":"
	    "\"o-1\"}}", NULL, 0, 0), POLICY_CANNOT_TELL);
	ck_assert_int_eq(cond1("{\"StringEqualsIfExists\":{\"kms:ViaService\":"
	    "\"x\"}}", NULL, 0, 0), POLICY_CANNOT_TELL);
	ck_assert_int_eq(cond1("{\"Null\":{\"kms:ViaService\":\"true\"}}",
	    NULL, 0, 0), POLICY_CANNOT_TELL);
}
END_TEST

START_TEST(test_cond_unknown_operator_cannot_tell)
{
	struct policy_ctx ctx[] = { { "kms:CallerAccount", "111122223333" } };

	ck_assert_int_eq(cond1("{\"StringEqualz\":{\"kms:CallerAccount\":"
	    "\"111122223333\"}}", ctx, 1, 1), POLICY_CANNOT_TELL);
	ck_assert_int_eq(cond1("{\"NullIfExists\":{\"kms:CallerAccount\":"
	    "\"true\"}}", ctx, 1, 1), POLICY_CANNOT_TELL);
}
END_TEST

START_TEST(test_cond_false_and_unknown_is_false)
{
	struct policy_ctx ctx[] = { { "kms:CallerAccount", "111122223333" } };

	ck_assert_int_eq(cond1("{\"StringEquals\":{\"kms:CallerAccount\":"
	    "\"999999999999\",\"kms:ViaService\":\"ec2.eu-west-1.amazonaws.com\""
	    "}}", ctx, 1, 0), POLICY_IMPLICIT_DENY);
}
END_TEST

START_TEST(test_cond_bool_string_and_json)
{
	struct policy_ctx ctx[] = { { "kms:GrantIsForAWSResource", "true" } };

	ck_assert_int_eq(cond1("{\"Bool\":{\"kms:GrantIsForAWSResource\":"
	    "true}}", ctx, 1, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"Bool\":{\"kms:GrantIsForAWSResource\":"
	    "\"true\"}}", ctx, 1, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"Bool\":{\"kms:GrantIsForAWSResource\":"
	    "[false]}}", ctx, 1, 1), POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"Bool\":{\"kms:GrantIsForAWSResource\":"
	    "\"yes\"}}", ctx, 1, 1), POLICY_IMPLICIT_DENY);
}
END_TEST

START_TEST(test_cond_null)
{
	struct policy_ctx ctx[] = { { "kms:GrantIsForAWSResource", "true" },
	    { "kms:ViaService", NULL } };

	ck_assert_int_eq(cond1("{\"Null\":{\"kms:GrantIsForAWSResource\":"
	    "\"false\"}}", ctx, 2, 0), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"Null\":{\"kms:GrantIsForAWSResource\":"
	    "true}}", ctx, 2, 0), POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"Null\":{\"kms:ViaService\":\"true\"}}",
	    ctx, 2, 0), POLICY_ALLOWED);
}
END_TEST

START_TEST(test_cond_numeric_and_date)
{
	struct policy_ctx ctx[] = { { "aws:MultiFactorAuthAge", "300" },
	    { "aws:CurrentTime", "2026-11-28T12:00:00Z" } };

	ck_assert_int_eq(cond1("{\"NumericLessThan\":"
	    "{\"aws:MultiFactorAuthAge\":3600}}", ctx, 2, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"NumericGreaterThanEquals\":"
	    "{\"aws:MultiFactorAuthAge\":\"301\"}}", ctx, 2, 1),
	    POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"NumericNotEquals\":"
	    "{\"aws:MultiFactorAuthAge\":[1,2]}}", ctx, 2, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"DateLessThan\":{\"aws:CurrentTime\":"
	    "\"2027-01-01T00:00:00Z\"}}", ctx, 2, 1), POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"DateGreaterThan\":{\"aws:CurrentTime\":"
	    "\"2027-01-01\"}}", ctx, 2, 1), POLICY_IMPLICIT_DENY);
}
END_TEST

START_TEST(test_cond_arn_like_and_not)
{
	struct policy_ctx ctx[] = { { "aws:PrincipalArn",
	    "arn:aws:iam::111122223333:role/App" } };

	ck_assert_int_eq(cond1("{\"ArnLike\":{\"aws:PrincipalArn\":"
	    "\"arn:aws:iam::111122223333:role/*\"}}", ctx, 1, 1),
	    POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"ArnEquals\":{\"aws:PrincipalArn\":"
	    "\"arn:aws:iam::111122223333:role/Other\"}}", ctx, 1, 1),
	    POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"ArnNotLike\":{\"aws:PrincipalArn\":"
	    "\"arn:aws:iam::*:role/Other\"}}", ctx, 1, 1), POLICY_ALLOWED);
}
END_TEST

START_TEST(test_cond_multivalued_forall_forany)
{
	struct policy_ctx ctx[] = { { "kms:EncryptionContextKeys", "a" },
	    { "kms:EncryptionContextKeys", "b" } };

	ck_assert_int_eq(cond1("{\"ForAllValues:StringEquals\":"
	    "{\"kms:EncryptionContextKeys\":[\"a\",\"b\",\"c\"]}}", ctx, 2, 1),
	    POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"ForAllValues:StringEquals\":"
	    "{\"kms:EncryptionContextKeys\":[\"a\"]}}", ctx, 2, 1),
	    POLICY_IMPLICIT_DENY);
	ck_assert_int_eq(cond1("{\"ForAnyValue:StringEquals\":"
	    "{\"kms:EncryptionContextKeys\":[\"b\"]}}", ctx, 2, 1),
	    POLICY_ALLOWED);
	ck_assert_int_eq(cond1("{\"ForAnyValue:StringNotEquals\":"
	    "{\"kms:EncryptionContextKeys\":[\"a\"]}}", ctx, 2, 1),
	    POLICY_ALLOWED);
}
END_TEST

/* ---- the vendor question, details ---- */

START_TEST(test_vendor_verdict_names_statements)
{
	struct policy *p = parse_str("{\"Version\":\"2012-10-17\",\"Statement\":["
	    "{\"Sid\":\"Allow use of the key\",\"Effect\":\"Allow\",\"Principal\":"
	    "{\"AWS\":\"" GS_ROOT "\"},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\","
	    "\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\",\"kms:DescribeKey\","
	    "\"kms:CreateGrant\",\"kms:ListGrants\",\"kms:RevokeGrant\"],"
	    "\"Resource\":\"*\"},"
	    "{\"Sid\":\"NoDecrypt\",\"Effect\":\"Deny\",\"Principal\":\"*\","
	    "\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}]}");
	struct vendor		*v = tv_gearset();
	struct policy_verdict	 out;
	size_t			 i;

	ck_assert_int_eq(policy_vendor_access(p, v, GS_EU, KEY_EU, &out),
	    POLICY_STATUS_MISSING);
	ck_assert_str_eq(out.principal, GS_ROOT);
	ck_assert_str_eq(out.reason, "kms:Decrypt is not allowed for "
	    GS_ROOT ": statement 'NoDecrypt' denies it (overriding statement "
	    "'Allow use of the key', which allows it)");
	ck_assert_uint_eq(out.nactions, 12);
	for (i = 0; i < out.nactions; i++) {
		if (strcmp(out.actions[i].action, "kms:Decrypt") == 0) {
			ck_assert_str_eq(out.actions[i].denied_by, "NoDecrypt");
			ck_assert_str_eq(out.actions[i].granted_by,
			    "Allow use of the key");
			ck_assert_str_eq(out.actions[i].group, "use of the key");
		} else
			ck_assert_int_eq(out.actions[i].status,
			    POLICY_STATUS_OK);
		if (strcmp(out.actions[i].action, "kms:ReEncryptTo") == 0)
			ck_assert_str_eq(out.actions[i].required,
			    "kms:ReEncrypt*");
	}
	policy_verdict_free(&out);
	tv_free(v);
	policy_free(p);
}
END_TEST

START_TEST(test_vendor_grant_condition_is_required_context)
{
	/* Granting CreateGrant only when GrantIsForAWSResource is true is
	 * fine for the grant group, but Decrypt under the same condition
	 * is not: Decrypt requests do not carry that key. */
	struct policy *p = parse_str("{\"Statement\":[{\"Sid\":\"All\","
	    "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" GS_EU "\"},"
	    "\"Action\":\"kms:*\",\"Condition\":{\"Bool\":"
	    "{\"kms:GrantIsForAWSResource\":\"true\"}}}]}");
	struct vendor		*v = tv_gearset();
	struct policy_verdict	 out;

	ck_assert_int_eq(policy_vendor_access(p, v, GS_EU, KEY_EU, &out),
	    POLICY_STATUS_MISSING);
	ck_assert(has_action(&out, "kms:CreateGrant", POLICY_STATUS_OK));
	ck_assert(has_action(&out, "kms:Decrypt", POLICY_STATUS_MISSING));
	policy_verdict_free(&out);
	tv_free(v);
	policy_free(p);
}
END_TEST

START_TEST(test_vendor_bad_arguments)
{
	struct policy		*p = parse_str(eval_policy);
	struct vendor		*v = tv_gearset();
	struct policy_verdict	 out;

	ck_assert_int_eq(policy_vendor_access(NULL, v, GS_EU, KEY_EU, &out), -1);
	ck_assert_int_eq(policy_vendor_access(p, NULL, GS_EU, KEY_EU, &out), -1);
	ck_assert_int_eq(policy_vendor_access(p, v, NULL, KEY_EU, &out), -1);
	ck_assert_int_eq(policy_vendor_access(p, v, GS_EU, KEY_EU, NULL), -1);
	policy_verdict_free(&out);
	policy_verdict_free(NULL);
	tv_free(v);
	policy_free(p);
}
END_TEST

/* ---- parsing ---- */

static void
parse_fails(const char *text, const char *want)
{
	char		 err[256];
	struct policy	*p;

	p = policy_parse(text, strlen(text), err, sizeof(err));
	ck_assert_msg(p == NULL, "parsed: %s", text);
	ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"",
	    err, want);
}

START_TEST(test_parse_errors_are_precise)
{
	parse_fails("[]", "must be a JSON object");
	parse_fails("{\"Statement\":[],\"Foo\":1}", "unknown element 'Foo'");
	parse_fails("{\"Statement\":[{\"Sid\":\"x\",\"Effect\":\"Allow\","
	    "\"Principal\":\"*\",\"Action\":\"kms:*\",\"Bogus\":1}]}",
	    "statement 1 (Sid 'x'): unknown element 'Bogus'");
	parse_fails("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":"
	    "{\"AWS\":[\"1\",2]},\"Action\":\"kms:*\"}]}",
	    "statement 1: Principal AWS value 2 must be a string");
	parse_fails("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":"
	    "{\"Users\":\"x\"},\"Action\":\"kms:*\"}]}",
	    "unknown principal type 'Users'");
	parse_fails("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
	    "\"Action\":\"kms:*\",\"NotAction\":\"kms:x\"}]}",
	    "both Action and NotAction");
	parse_fails("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
	    "\"kms:*\"}]}", "Principal is missing");
	parse_fails("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
	    "\"Action\":\"kms:*\",\"Condition\":{\"Bool\":[1]}}]}",
	    "Condition operator Bool must map to an object");
	parse_fails("{\"Version\":\"2020-01-01\",\"Statement\":[]}",
	    "Version must be");
	parse_fails("{\"Statement\":[{\"Sid\":7}]}", "Sid must be a string");
	parse_fails("", "not valid JSON");
}
END_TEST

START_TEST(test_parse_size_and_depth_bounded)
{
	size_t		 n = POLICY_MAX_TEXT + 10, i;
	char		*big = malloc(n + 1), err[256];
	struct policy	*p;

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	big[n] = '\0';
	big[0] = '{';
	big[n - 1] = '}';
	p = policy_parse(big, n, err, sizeof(err));
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(strstr(err, "more than the limit"));
	/* 30000 nested arrays: refused, not a stack overflow. */
	n = 60000;
	for (i = 0; i < n / 2; i++)
		big[i] = '[';
	for (; i < n; i++)
		big[i] = ']';
	p = policy_parse(big, n, err, sizeof(err));
	ck_assert_ptr_null(p);
	free(big);
}
END_TEST

START_TEST(test_parse_typed_form)
{
	struct policy *p = parse_str("{\"Version\":\"2012-10-17\",\"Statement\":"
	    "{\"Sid\":\"s\",\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":[\"1\","
	    "\"*\"],\"Service\":\"s3.amazonaws.com\",\"Federated\":\"f\","
	    "\"CanonicalUser\":\"c\"},\"NotAction\":[\"a\",\"b\"],"
	    "\"NotResource\":\"r\",\"Condition\":{\"NumericEquals\":{\"k\":[1,2.5,"
	    "true,\"s\"]}}}}");
	const struct policy_stmt *st = &p->stmts[0];

	ck_assert_uint_eq(p->nstmts, 1);
	ck_assert_str_eq(p->version, "2012-10-17");
	ck_assert_str_eq(st->sid, "s");
	ck_assert_int_eq(st->effect, POLICY_DENY);
	ck_assert(st->not_principal && st->not_action && st->not_resource);
	ck_assert_uint_eq(st->nprincipals, 5);
	ck_assert_uint_eq(st->nactions, 2);
	ck_assert_uint_eq(st->nconds, 1);
	ck_assert_uint_eq(st->conds[0].nvalues, 4);
	ck_assert_str_eq(st->conds[0].values[0], "1");
	ck_assert_str_eq(st->conds[0].values[1], "2.5");
	ck_assert_str_eq(st->conds[0].values[2], "true");
	policy_free(p);
	policy_free(NULL);
}
END_TEST

/* ---- canonical form and diff ---- */

static const char canon_base[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"Allow use of the key\",\"Effect\":\"Allow\",\"Principal\":"
    "{\"AWS\":\"arn:aws:iam::347752291521:root\"},\"Action\":[\"kms:Encrypt\","
    "\"kms:Decrypt\",\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\","
    "\"kms:DescribeKey\"],\"Resource\":\"*\"},"
    "{\"Sid\":\"Allow attachment of persistent resources\",\"Effect\":"
    "\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::347752291521:root\"},"
    "\"Action\":[\"kms:CreateGrant\",\"kms:ListGrants\",\"kms:RevokeGrant\"],"
    "\"Resource\":\"*\",\"Condition\":{\"Bool\":"
    "{\"kms:GrantIsForAWSResource\":\"true\"}}}]}";

/* The same policy rewritten: statements swapped, lists reordered, one
 * duplicated, case changed, scalars as arrays, bare account id, JSON
 * boolean, whitespace. */
static const char canon_rewritten[] =
    "{ \"Statement\" : [\n"
    "  { \"Condition\": {\"bool\": {\"KMS:GrantIsForAWSResource\": [true]}},\n"
    "    \"Resource\": [\"*\"], \"Action\": [\"kms:RevokeGrant\", "
    "\"KMS:CreateGrant\", \"kms:ListGrants\", \"kms:createGrant\"],\n"
    "    \"Principal\": {\"AWS\": [\"347752291521\"]}, \"Effect\": \"Allow\",\n"
    "    \"Sid\": \"Allow attachment of persistent resources\" },\n"
    "  { \"Sid\": \"Allow use of the key\", \"Effect\": \"Allow\",\n"
    "    \"Principal\": {\"AWS\": [\"arn:aws:iam::347752291521:root\", "
    "\"347752291521\"]},\n"
    "    \"Action\": [\"kms:describekey\", \"kms:GenerateDataKey*\", "
    "\"kms:ReEncrypt*\", \"kms:Decrypt\", \"kms:Encrypt\"],\n"
    "    \"Resource\": \"*\" } ],\n"
    "  \"Version\": \"2012-10-17\" }";

START_TEST(test_canonical_rewrite_is_equal)
{
	struct policy	*a = parse_str(canon_base), *b = parse_str(canon_rewritten);
	char		*ca = policy_canonical(a), *cb = policy_canonical(b);
	char		**lines;
	size_t		 n;

	ck_assert_str_eq(ca, cb);
	ck_assert_int_eq(policy_equal(a, b), 1);
	ck_assert_int_eq(policy_diff(a, b, &lines, &n), 0);
	ck_assert_uint_eq(n, 0);
	policy_diff_free(lines, n);
	free(ca);
	free(cb);
	policy_free(a);
	policy_free(b);
}
END_TEST

START_TEST(test_canonical_form_shape)
{
	struct policy	*p = parse_str("{\"Statement\":{\"Effect\":\"Allow\","
	    "\"Principal\":{\"AWS\":\"*\"},\"Action\":\"KMS:Decrypt\"}}");
	char		*c = policy_canonical(p);

	ck_assert_str_eq(c, "{\"Statement\":[{\"Action\":[\"kms:decrypt\"],"
	    "\"Effect\":\"Allow\",\"Principal\":\"*\"}],\"Version\":"
	    "\"2008-10-17\"}");
	free(c);
	policy_free(p);
}
END_TEST

static void
expect_diff(const char *old_text, const char *new_text, const char *line)
{
	struct policy	*a = parse_str(old_text), *b = parse_str(new_text);
	char		**lines;
	size_t		 n, i;
	int		 found = 0;

	ck_assert_int_eq(policy_equal(a, b), 0);
	ck_assert_int_eq(policy_diff(a, b, &lines, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(lines[i], line) == 0)
			found = 1;
	ck_assert_msg(found, "diff lacks \"%s\" (%zu lines, first: %s)", line,
	    n, n ? lines[0] : "-");
	policy_diff_free(lines, n);
	policy_free(a);
	policy_free(b);
}

static char *
replace(const char *s, const char *from, const char *to)
{
	const char	*at = strstr(s, from);
	char		*r;
	size_t		 pre;

	ck_assert_ptr_nonnull(at);
	pre = (size_t)(at - s);
	r = malloc(strlen(s) - strlen(from) + strlen(to) + 1);
	ck_assert_ptr_nonnull(r);
	memcpy(r, s, pre);
	memcpy(r + pre, to, strlen(to));
	memcpy(r + pre + strlen(to), at + strlen(from),
	    strlen(at + strlen(from)) + 1);
	return r;
}

START_TEST(test_diff_action_removed)
{
	char *n = replace(canon_base, "\"kms:Decrypt\",", "");

	expect_diff(canon_base, n,
	    "statement 'Allow use of the key': action kms:Decrypt removed");
	free(n);
}
END_TEST

START_TEST(test_diff_condition_changed)
{
	char *n = replace(canon_base, "\"true\"", "\"false\"");

	expect_diff(canon_base, n, "statement 'Allow attachment of persistent "
	    "resources': condition Bool kms:GrantIsForAWSResource changed "
	    "from true to false");
	free(n);
}
END_TEST

START_TEST(test_diff_statement_removed_and_added)
{
	char *n = replace(canon_base, "\"Sid\":\"Allow use of the key\"",
	    "\"Sid\":\"Use\"");

	expect_diff(canon_base, n, "statement 'Allow use of the key' removed "
	    "(Allow [kms:decrypt, kms:describekey, kms:encrypt, "
	    "kms:generatedatakey*, kms:reencrypt*] for "
	    "arn:aws:iam::347752291521:root)");
	expect_diff(canon_base, n, "statement 'Use' added "
	    "(Allow [kms:decrypt, kms:describekey, kms:encrypt, "
	    "kms:generatedatakey*, kms:reencrypt*] for "
	    "arn:aws:iam::347752291521:root)");
	free(n);
}
END_TEST

START_TEST(test_diff_principal_and_effect)
{
	char *n = replace(canon_base, "{\"AWS\":\"arn:aws:iam::347752291521:"
	    "root\"},\"Action\":[\"kms:Encrypt\"", "{\"AWS\":\"arn:aws:iam::"
	    "157764733222:root\"},\"Action\":[\"kms:Encrypt\"");
	char *m = replace(canon_base, "\"Effect\":\"Allow\"",
	    "\"Effect\":\"Deny\"");

	expect_diff(canon_base, n, "statement 'Allow use of the key': "
	    "principal arn:aws:iam::347752291521:root removed");
	expect_diff(canon_base, n, "statement 'Allow use of the key': "
	    "principal arn:aws:iam::157764733222:root added");
	expect_diff(canon_base, m, "statement 'Allow use of the key': "
	    "effect changed from Allow to Deny");
	free(n);
	free(m);
}
END_TEST

START_TEST(test_diff_condition_added_and_sidless_statement)
{
	char *n = replace(canon_base, "\"Resource\":\"*\"},",
	    "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
	    "{\"kms:ViaService\":\"s3.eu-west-1.amazonaws.com\"}}},"
	    "{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":"
	    "\"kms:ScheduleKeyDeletion\",\"Resource\":\"*\"},");

	expect_diff(canon_base, n, "statement 'Allow use of the key': "
	    "condition StringEquals kms:ViaService "
	    "s3.eu-west-1.amazonaws.com added");
	expect_diff(canon_base, n, "statement #2 added (Deny "
	    "kms:schedulekeydeletion for *)");
	free(n);
}
END_TEST

START_TEST(test_diff_real_changes_are_not_equal)
{
	struct policy *a = parse_str(canon_base);
	const char *changes[][2] = {
		{ "\"kms:DescribeKey\"", "\"kms:Describe*\"" },
		{ "\"Resource\":\"*\"", "\"Resource\":\"arn:aws:kms:*\"" },
		{ "\"Version\":\"2012-10-17\"", "\"Version\":\"2008-10-17\"" },
		{ "\"Principal\":{\"AWS\"", "\"NotPrincipal\":{\"AWS\"" },
		{ "\"Bool\"", "\"StringEquals\"" },
		{ "\"Bool\"", "\"BoolIfExists\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char *t = replace(canon_base, changes[i][0], changes[i][1]);
		struct policy *b = parse_str(t);

		ck_assert_msg(policy_equal(a, b) == 0, "equal after %s -> %s",
		    changes[i][0], changes[i][1]);
		policy_free(b);
		free(t);
	}
	policy_free(a);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite	*s = suite_create("policy");
	TCase	*tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_table_has_at_least_60_cases);
	tcase_add_test(tc, test_shipped_gearset_is_the_guide);
	tcase_add_loop_test(tc, test_case_table, 0, (int)ncase_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_test(tc, test_match_wildcards_and_case);
	tcase_add_test(tc, test_match_pathological_pattern_is_fast);
	suite_add_tcase(s, tc);

	tc = tcase_create("eval");
	tcase_add_test(tc, test_eval_account_principal_covers_root_bare_and_inside);
	tcase_add_test(tc, test_eval_role_principal_does_not_cover_its_account);
	tcase_add_test(tc, test_eval_notprincipal_excludes_only_named);
	tcase_add_test(tc, test_eval_resource_other_key_and_unknown_key);
	tcase_add_test(tc, test_eval_deny_cannot_tell_beats_allow);
	tcase_add_test(tc, test_eval_definite_deny_beats_unknown_allow);
	tcase_add_test(tc, test_eval_unknown_allow_with_definite_allow_is_allowed);
	suite_add_tcase(s, tc);

	tc = tcase_create("conditions");
	tcase_add_test(tc, test_cond_string_operators);
	tcase_add_test(tc, test_cond_ignorecase);
	tcase_add_test(tc, test_cond_absent_key_semantics);
	tcase_add_test(tc, test_cond_unknown_key_cannot_tell);
	tcase_add_test(tc, test_cond_unknown_operator_cannot_tell);
	tcase_add_test(tc, test_cond_false_and_unknown_is_false);
	tcase_add_test(tc, test_cond_bool_string_and_json);
	tcase_add_test(tc, test_cond_null);
	tcase_add_test(tc, test_cond_numeric_and_date);
	tcase_add_test(tc, test_cond_arn_like_and_not);
	tcase_add_test(tc, test_cond_multivalued_forall_forany);
	suite_add_tcase(s, tc);

	tc = tcase_create("vendor");
	tcase_add_test(tc, test_vendor_verdict_names_statements);
	tcase_add_test(tc, test_vendor_grant_condition_is_required_context);
	tcase_add_test(tc, test_vendor_bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_errors_are_precise);
	tcase_add_test(tc, test_parse_size_and_depth_bounded);
	tcase_add_test(tc, test_parse_typed_form);
	suite_add_tcase(s, tc);

	tc = tcase_create("canonical");
	tcase_add_test(tc, test_canonical_rewrite_is_equal);
	tcase_add_test(tc, test_canonical_form_shape);
	tcase_add_test(tc, test_diff_action_removed);
	tcase_add_test(tc, test_diff_condition_changed);
	tcase_add_test(tc, test_diff_statement_removed_and_added);
	tcase_add_test(tc, test_diff_principal_and_effect);
	tcase_add_test(tc, test_diff_condition_added_and_sidless_statement);
	tcase_add_test(tc, test_diff_real_changes_are_not_equal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	load_case_list();
	sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

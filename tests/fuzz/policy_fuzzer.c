/*
 * libFuzzer target for lib/policy: parse arbitrary text as a key policy,
 * ask the vendor question, evaluate a few requests, build the canonical
 * form and diff against a fixed policy.  Checks the invariants the
 * policy-changed finding relies on: the canonical form parses back to the
 * same canonical form, and a policy differs from neither itself nor its
 * canonical form.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../lib/policy.h"
#include "../../lib/vendor.h"
#include "../unit/policy_testvendor.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_text[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"Enable IAM User Permissions\",\"Effect\":\"Allow\","
    "\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},"
    "\"Action\":\"kms:*\",\"Resource\":\"*\"},"
    "{\"Sid\":\"Allow use of the key\",\"Effect\":\"Allow\",\"Principal\":"
    "{\"AWS\":\"arn:aws:iam::347752291521:root\"},\"Action\":[\"kms:Encrypt\","
    "\"kms:Decrypt\",\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\","
    "\"kms:DescribeKey\"],\"Resource\":\"*\"},"
    "{\"Sid\":\"Allow attachment of persistent resources\",\"Effect\":"
    "\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::347752291521:root\"},"
    "\"Action\":[\"kms:CreateGrant\",\"kms:ListGrants\",\"kms:RevokeGrant\"],"
    "\"Resource\":\"*\",\"Condition\":{\"Bool\":"
    "{\"kms:GrantIsForAWSResource\":\"true\"}}}]}";

#define KEY	"arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab"

static struct vendor	*gearset;
static struct policy	*fixed;

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "policy_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

static void
diff_both_ways(const struct policy *a, const struct policy *b, int same)
{
	char	**lines;
	size_t	  n, i;

	check(policy_diff(a, b, &lines, &n) == 0, "policy_diff failed");
	for (i = 0; i < n; i++)
		check(lines[i] != NULL && lines[i][0] != '\0', "empty diff line");
	if (same && n != 0) {
		fprintf(stderr, "unexpected diff line: %s\n", lines[0]);
		check(0, "diff of equal policies is not empty");
	}
	policy_diff_free(lines, n);
	check(policy_diff(b, a, &lines, &n) == 0, "policy_diff failed");
	policy_diff_free(lines, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct policy_ctx ctx[] = {
		{ "kms:CallerAccount", "111122223333" },
		{ "kms:GrantIsForAWSResource", "true" },
		{ "kms:EncryptionContextKeys", "a" },
		{ "kms:EncryptionContextKeys", "b" },
		{ "aws:CurrentTime", "2026-11-28T12:00:00Z" },
		{ "kms:ViaService", NULL },
	};
	static const char *const principals[] = { "111122223333",
	    "arn:aws:iam::347752291521:root", "arn:aws:iam::1:role/x",
	    "s3.amazonaws.com" };
	struct policy_request	 req;
	struct policy_decision	 d;
	struct policy_verdict	 v;
	struct policy		*p, *q;
	char			 err[512], *canon, *canon2;
	size_t			 i;
	int			 r;

	if (gearset == NULL) {
		/* The guide's profile as the policy table has it (which
		 * test_policy checks against the shipped file): the
		 * fuzzer links no YAML reader. */
		gearset = tv_gearset();
		fixed = policy_parse(fixed_text, strlen(fixed_text), err,
		    sizeof(err));
		check(gearset != NULL && fixed != NULL, "setup");
	}
	p = policy_parse((const char *)data, size, err, sizeof(err));
	if (p == NULL) {
		check(err[0] != '\0', "parse failed without a message");
		return 0;
	}

	r = policy_vendor_access(p, gearset, "347752291521", KEY, &v);
	check(r >= 0 && r == (int)v.status, "vendor status");
	check((v.status == POLICY_STATUS_OK) == (v.reason == NULL),
	    "a reason exactly when not ok");
	policy_verdict_free(&v);
	r = policy_vendor_access(p, gearset, "347752291521", NULL, &v);
	check(r >= 0, "vendor status without key ARN");
	policy_verdict_free(&v);

	for (i = 0; i < sizeof(principals) / sizeof(principals[0]); i++) {
		memset(&req, 0, sizeof(req));
		req.principal = principals[i];
		req.action = i % 2 ? "kms:Decrypt" : "kms:CreateGrant";
		req.resource = i % 3 ? KEY : NULL;
		req.ctx = ctx;
		req.nctx = sizeof(ctx) / sizeof(ctx[0]);
		req.ctx_closed = (int)(i % 2);
		check(policy_eval(p, &req, &d) >= 0, "policy_eval");
	}

	canon = policy_canonical(p);
	check(canon != NULL, "canonical");
	q = policy_parse(canon, strlen(canon), err, sizeof(err));
	if (q == NULL) {
		fprintf(stderr, "canonical form does not parse: %s\n%s\n", err,
		    canon);
		check(0, "canonical form parses");
	}
	canon2 = policy_canonical(q);
	check(canon2 != NULL && strcmp(canon, canon2) == 0,
	    "canonical form is a fixed point");
	check(policy_equal(p, q) == 1, "equal to own canonical form");
	diff_both_ways(p, p, 1);
	diff_both_ways(p, q, 1);
	diff_both_ways(p, fixed, 0);
	free(canon);
	free(canon2);
	policy_free(q);
	policy_free(p);
	return 0;
}

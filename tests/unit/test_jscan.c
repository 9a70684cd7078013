/*
 * lib/jscan and the one-pass GetKeyPolicy reader built on it: whatever
 * the answer, kms_parse_policy() must give exactly what jansson's tree
 * gives (kms_parse_policy_tree(): the same rc, the same policy bytes, the
 * same error), and the reader must take the usual answers itself.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "kms.h"
#include "kms_int.h"

/* The answers both paths are compared on. */
static const char *const answers[] = {
	/* What KMS sends, pretty-printed policy with \n and \" escapes. */
	"{\"Policy\":\"{\\n  \\\"Version\\\" : \\\"2012-10-17\\\",\\n  "
	"\\\"Statement\\\" : [ {\\n    \\\"Effect\\\" : \\\"Allow\\\"\\n"
	"  } ]\\n}\",\"PolicyName\":\"default\"}",
	"{\"PolicyName\": \"default\", \"Policy\": \"{}\"}",
	" \t\r\n{ \"Policy\" : \"x\" } \n",
	"{\"Policy\":\"\"}",
	"{\"Policy\":\"a\\/b\\\\c\\bd\\fe\\nf\\rg\\th\"}",
	/* \u escapes: ASCII, 2 and 3 bytes, a surrogate pair, upper and
	 * lower case hex. */
	"{\"Policy\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uD83D\\uDE00\"}",
	/* Raw UTF-8 of every length. */
	"{\"Policy\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"}",
	/* Other members of every type, nested, skipped. */
	"{\"A\":[1,-0,0.5,-1.5e3,2E+2,3e-2,true,false,null,{},[],"
	"{\"x\":{\"y\":[[]]}}],\"Policy\":\"p\",\"B\":{\"c\":\"\\u00e9\"}}",
	/* Errors jansson names. */
	"",
	"   ",
	"{}",
	"[]",
	"\"Policy\"",
	"{\"Policy\":null}",
	"{\"Policy\":1}",
	"{\"Policy\":{}}",
	"{\"Policy\":[\"x\"]}",
	"{\"Policy\":true}",
	"{\"Policy\":\"x\"",
	"{\"Policy\":\"x",
	"{\"Policy\":\"x\"}}",
	"{\"Policy\":\"x\"} x",
	"{\"Policy\":\"x\",}",
	"{,\"Policy\":\"x\"}",
	"{\"Policy\" \"x\"}",
	"{\"Policy\":\"x\" \"y\":1}",
	/* Duplicates, at the top and inside a skipped value. */
	"{\"Policy\":\"x\",\"Policy\":\"y\"}",
	"{\"A\":1,\"Policy\":\"x\",\"A\":2}",
	"{\"A\":{\"b\":1,\"b\":2},\"Policy\":\"x\"}",
	/* An escaped member name (jansson decodes it: a duplicate). */
	"{\"Policy\":\"x\",\"\\u0050olicy\":\"y\"}",
	"{\"\\u0050olicy\":\"y\"}",
	/* Bad escapes and code points. */
	"{\"Policy\":\"\\x\"}",
	"{\"Policy\":\"\\u00\"}",
	"{\"Policy\":\"\\u00g0\"}",
	"{\"Policy\":\"\\u0000\"}",
	"{\"Policy\":\"\\ud83d\"}",
	"{\"Policy\":\"\\ud83dx\"}",
	"{\"Policy\":\"\\ud83d\\u0041\"}",
	"{\"Policy\":\"\\ude00\"}",
	"{\"Policy\":\"\\",
	"{\"Policy\":\"a\tb\"}",
	"{\"Policy\":\"a\nb\"}",
	/* Bad UTF-8: a lone continuation, overlong, a surrogate, above
	 * U+10FFFF, cut. */
	"{\"Policy\":\"\x80\"}",
	"{\"Policy\":\"\xc0\xaf\"}",
	"{\"Policy\":\"\xe0\x80\xaf\"}",
	"{\"Policy\":\"\xed\xa0\x80\"}",
	"{\"Policy\":\"\xf4\x90\x80\x80\"}",
	"{\"Policy\":\"\xf0\x9f\x98\"}",
	"{\"Policy\":\"\xc3\"}",
	"{\"Policy\":\"x\",\"A\":\"\xff\"}",
	/* Numbers: a leading zero, bare signs, a lone dot, huge ones. */
	"{\"A\":01,\"Policy\":\"x\"}",
	"{\"A\":-,\"Policy\":\"x\"}",
	"{\"A\":1.,\"Policy\":\"x\"}",
	"{\"A\":.5,\"Policy\":\"x\"}",
	"{\"A\":1e,\"Policy\":\"x\"}",
	"{\"A\":+1,\"Policy\":\"x\"}",
	"{\"A\":123456789012345678901234567890,\"Policy\":\"x\"}",
	"{\"A\":-9223372036854775809,\"Policy\":\"x\"}",
	"{\"A\":9223372036854775807,\"Policy\":\"x\"}",
	"{\"A\":1e400,\"Policy\":\"x\"}",
	"{\"A\":1e-400,\"Policy\":\"x\"}",
	"{\"A\":tru,\"Policy\":\"x\"}",
	"{\"A\":truex,\"Policy\":\"x\"}",
	"{\"A\":nul,\"Policy\":\"x\"}",
	"{\"A\":[1,],\"Policy\":\"x\"}",
	"{\"A\":[1 2],\"Policy\":\"x\"}",
	"{\"A\":NaN,\"Policy\":\"x\"}",
};

/* Both paths on body; fails the test on any difference. */
static void
compare(const char *body, size_t len, const char *what)
{
	struct kms_error	 e1, e2;
	char			*p1 = NULL, *p2 = NULL;
	int			 r1, r2;

	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = kms_parse_policy(body, len, &p1, &e1);
	r2 = kms_parse_policy_tree(body, len, &p2, &e2);
	ck_assert_msg(r1 == r2, "%s: rc %d, jansson %d", what, r1, r2);
	if (r1 == 0)
		ck_assert_msg(strcmp(p1, p2) == 0, "%s: policy differs", what);
	else {
		ck_assert_ptr_null(p1);
		ck_assert_msg(e1.cls == e2.cls &&
		    strcmp(e1.code, e2.code) == 0 &&
		    strcmp(e1.message, e2.message) == 0,
		    "%s: error \"%s\" vs jansson's \"%s\"", what, e1.message,
		    e2.message);
	}
	free(p1);
	free(p2);
}

START_TEST(test_jscan_policy_same_as_jansson_on_every_answer)
{
	size_t	i;
	char	what[32];

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		(void)snprintf(what, sizeof(what), "answer %zu", i);
		compare(answers[i], strlen(answers[i]), what);
	}
	/* A NUL inside the given length, and a NULL body. */
	compare("{\"Policy\":\"x\"}\0", 15, "NUL after the object");
	compare("{\"Policy\":\"a\0b\"}", 16, "NUL in the string");
	compare(NULL, 0, "NULL body");
}
END_TEST

/* Every prefix and every one-byte change of the usual answers. */
START_TEST(test_jscan_policy_same_as_jansson_cut_and_mutated)
{
	static const char	 bytes[] = "\"\\{}[],: \nu0Ad\x80\xc3\xff";
	char			 buf[512], what[64];
	size_t			 i, j, k, len;

	for (i = 0; i < 8; i++) {
		len = strlen(answers[i]);
		ck_assert_uint_lt(len, sizeof(buf));
		for (j = 0; j <= len; j++) {
			(void)snprintf(what, sizeof(what), "answer %zu cut at "
			    "%zu", i, j);
			compare(answers[i], j, what);
		}
		for (j = 0; j < len; j++)
			for (k = 0; k < sizeof(bytes) - 1; k++) {
				memcpy(buf, answers[i], len);
				buf[j] = bytes[k];
				(void)snprintf(what, sizeof(what), "answer %zu, "
				    "byte %zu = 0x%02x", i, j,
				    (unsigned char)bytes[k]);
				compare(buf, len, what);
			}
	}
}
END_TEST

/* A huge policy, and nesting past the reader's depth. */
START_TEST(test_jscan_policy_same_as_jansson_huge_and_deep)
{
	size_t	 n = 300000, i, o = 0;
	char	*b = malloc(n + 64);

	ck_assert_ptr_nonnull(b);
	o += (size_t)sprintf(b, "{\"Policy\":\"");
	for (i = 0; i < n / 8; i++) {
		memcpy(b + o, "\\u00e9\\n", 8);
		o += 8;
	}
	o += (size_t)sprintf(b + o, "\"}");
	compare(b, o, "huge escaped policy");
	o = (size_t)sprintf(b, "{\"A\":");
	for (i = 0; i < 100; i++)
		b[o++] = '[';
	for (i = 0; i < 100; i++)
		b[o++] = ']';
	o += (size_t)sprintf(b + o, ",\"Policy\":\"x\"}");
	compare(b, o, "deep array");
	free(b);
}
END_TEST

/* The reader itself takes what KMS sends: jansson is only the fallback. */
START_TEST(test_jscan_reads_the_usual_answer_itself)
{
	struct jscan		 s;
	struct jscan_names	 names;
	struct jscan_str	 name, str;
	const char		*a = answers[0];
	char			 out[256];
	int			 first = 1, found = 0;

	jscan_init(&s, a, strlen(a));
	names.n = 0;
	ck_assert_int_eq(jscan_expect(&s, '{'), 0);
	while (jscan_member(&s, &first, &names, &name) == 1) {
		if (jscan_is(&name, "Policy")) {
			ck_assert_int_eq(jscan_string(&s, &str), 0);
			ck_assert_uint_lt(str.len, sizeof(out));
			(void)jscan_decode(&str, out);
			found = 1;
		} else
			ck_assert_int_eq(jscan_skip(&s), 0);
	}
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(jscan_end(&s), 0);
	ck_assert_str_eq(out, "{\n  \"Version\" : \"2012-10-17\",\n  "
	    "\"Statement\" : [ {\n    \"Effect\" : \"Allow\"\n  } ]\n}");
}
END_TEST

static Suite *
jscan_suite(void)
{
	Suite	*s = suite_create("jscan");
	TCase	*tc = tcase_create("policy");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_jscan_policy_same_as_jansson_on_every_answer);
	tcase_add_test(tc, test_jscan_policy_same_as_jansson_cut_and_mutated);
	tcase_add_test(tc, test_jscan_policy_same_as_jansson_huge_and_deep);
	tcase_add_test(tc, test_jscan_reads_the_usual_answer_itself);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(jscan_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}

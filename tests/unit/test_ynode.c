/*
 * lib/ynode: YAML into a positioned tree; errors carry FILE:LINE:COLUMN.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ynode.h"

static struct ynode *
parse(const char *text, char *err, size_t errlen)
{
	return ynode_parse("t.yaml", text, strlen(text), err, errlen);
}

START_TEST(test_ynode_positions_are_one_based)
{
	char		 err[256];
	struct ynode	*r, *k, *n;

	r = parse("interval: 5m\nkeys:\n  - arn: x\n    name: 'y'\n", err,
	    sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(r->type, YNODE_MAP);
	n = ynode_get(r, "interval");
	ck_assert_str_eq(n->value, "5m");
	ck_assert_int_eq(n->line, 1);
	ck_assert_int_eq(n->column, 11);
	k = ynode_get(r, "keys");
	ck_assert_int_eq(k->type, YNODE_SEQ);
	ck_assert_uint_eq(k->nitems, 1);
	n = ynode_get(k->items[0], "name");
	ck_assert_str_eq(n->value, "y");
	ck_assert_int_eq(n->quoted, 1);
	ck_assert_int_eq(n->line, 4);
	ck_assert_int_eq(n->column, 11);
	ck_assert_str_eq(ynode_where(n, err, sizeof(err)), "t.yaml:4:11");
	ynode_free(r);
}
END_TEST

START_TEST(test_ynode_duplicate_key_is_an_error)
{
	char	err[256];

	ck_assert_ptr_null(parse("a: 1\nb: 2\na: 3\n", err, sizeof(err)));
	ck_assert_str_eq(err, "t.yaml:3:1: duplicate key 'a' (first at line 1)");
}
END_TEST

START_TEST(test_ynode_syntax_error_names_position)
{
	char	err[256];

	ck_assert_ptr_null(parse("a: [1, 2\nb: 3\n", err, sizeof(err)));
	ck_assert_msg(strncmp(err, "t.yaml:", 7) == 0, "%s", err);
}
END_TEST

START_TEST(test_ynode_refuses_aliases_and_anchors)
{
	char	err[256];

	ck_assert_ptr_null(parse("a: &x 1\nb: *x\n", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "anchors are not supported"));
}
END_TEST

START_TEST(test_ynode_empty_file_is_empty_map)
{
	char		 err[256];
	struct ynode	*r = parse("", err, sizeof(err));

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, YNODE_MAP);
	ck_assert_uint_eq(r->nitems, 0);
	ynode_free(r);
}
END_TEST

START_TEST(test_ynode_deep_nesting_is_refused)
{
	char	err[256], text[512];
	size_t	i;

	for (i = 0; i < 40; i++)
		text[i] = '[';
	text[i] = '\0';
	ck_assert_ptr_null(parse(text, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "nesting too deep"));
}
END_TEST

START_TEST(test_ynode_null_scalars)
{
	char		 err[256];
	struct ynode	*r = parse("a: ~\nb:\nc: 'null'\nd: null\n", err,
			    sizeof(err));

	ck_assert_ptr_nonnull(r);
	ck_assert(ynode_is_null(ynode_get(r, "a")));
	ck_assert(ynode_is_null(ynode_get(r, "b")));
	ck_assert(!ynode_is_null(ynode_get(r, "c")));
	ck_assert(ynode_is_null(ynode_get(r, "d")));
	ynode_free(r);
}
END_TEST

START_TEST(test_ynode_missing_file_says_why)
{
	char	err[256];

	ck_assert_ptr_null(ynode_parse_file("tests/nonexistent.yaml", err,
	    sizeof(err)));
	ck_assert_str_eq(err,
	    "tests/nonexistent.yaml: No such file or directory");
}
END_TEST

static Suite *
ynode_suite(void)
{
	Suite	*s = suite_create("ynode");
	TCase	*tc = tcase_create("parse");

	tcase_add_test(tc, test_ynode_positions_are_one_based);
	tcase_add_test(tc, test_ynode_duplicate_key_is_an_error);
	tcase_add_test(tc, test_ynode_syntax_error_names_position);
	tcase_add_test(tc, test_ynode_refuses_aliases_and_anchors);
	tcase_add_test(tc, test_ynode_empty_file_is_empty_map);
	tcase_add_test(tc, test_ynode_deep_nesting_is_refused);
	tcase_add_test(tc, test_ynode_null_scalars);
	tcase_add_test(tc, test_ynode_missing_file_says_why);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(ynode_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

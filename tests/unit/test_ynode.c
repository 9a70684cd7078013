/*
 * lib/ynode: YAML into a positioned tree; errors carry FILE:LINE:COLUMN.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Tags change how a value is read; the man page says they are refused,
 * and where. */
START_TEST(test_ynode_refuses_tags_with_position)
{
	static const struct {
		const char	*text;
		const char	*where;
		const char	*tag;
	} cases[] = {
		{ "interval: !!str 5m\n", "t.yaml:1:11:", "'!!str'" },
		{ "keys: !!seq\n  - arn: x\n", "t.yaml:1:7:",
		    "'!!seq'" },
		{ "a:\n  b: !custom {x: 1}\n", "t.yaml:2:6:", "!custom" },
		{ "!!map\na: 1\n", "t.yaml:1:1:", "'!!map'" },
		{ "a: ! 1\n", "t.yaml:1:4:", "'!'" },
		{ "- !<tag:x> y\n", "t.yaml:1:3:", "tag:x" },
	};
	char	err[256];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse(cases[i].text, err, sizeof(err)) == NULL,
		    "case %zu accepted", i);
		ck_assert_msg(strncmp(err, cases[i].where,
		    strlen(cases[i].where)) == 0, "case %zu: %s", i, err);
		ck_assert_msg(strstr(err, "YAML tags are not supported") !=
		    NULL && strstr(err, cases[i].tag) != NULL, "case %zu: %s",
		    i, err);
	}
}
END_TEST

/* Large mappings find duplicates through a table: the clash is still
 * reported at the second key, naming the first's line, wherever both
 * are and however the table grew in between. */
START_TEST(test_ynode_duplicate_in_a_large_mapping)
{
	static const size_t	 sizes[] = { 15, 16, 17, 33, 64, 1000, 50000 };
	size_t			 i, j, n, off, cap, dupof;
	char			*text, err[256], want[128];
	struct ynode		*r;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		cap = (n + 1) * 24;
		text = malloc(cap);
		ck_assert_ptr_nonnull(text);
		off = 0;
		for (j = 0; j < n; j++)
			off += (size_t)snprintf(text + off, cap - off,
			    "key_%zu: %zu\n", j, j);
		r = ynode_parse("t.yaml", text, off, err, sizeof(err));
		ck_assert_msg(r != NULL, "%zu keys: %s", n, err);
		ck_assert_uint_eq(r->nitems, n);
		ck_assert_str_eq(ynode_get(r, "key_0")->value, "0");
		ynode_free(r);
		/* The same key again, as the last one. */
		dupof = n / 2;
		(void)snprintf(text + off, cap - off, "key_%zu: x\n", dupof);
		r = ynode_parse("t.yaml", text, strlen(text), err,
		    sizeof(err));
		ck_assert_ptr_null(r);
		(void)snprintf(want, sizeof(want), "t.yaml:%zu:1: duplicate "
		    "key 'key_%zu' (first at line %zu)", n + 1, dupof,
		    dupof + 1);
		ck_assert_str_eq(err, want);
		free(text);
	}
}
END_TEST

/* Keys that differ only past a NUL-free prefix or in length are not
 * duplicates. */
START_TEST(test_ynode_similar_keys_are_not_duplicates)
{
	char		 err[256], text[4096];
	size_t		 off = 0, j;
	struct ynode	*r;

	for (j = 0; j < 40; j++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "k%.*s: 1\n", (int)j, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	r = parse(text, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_uint_eq(r->nitems, 40);
	ynode_free(r);
}
END_TEST

/* A file of tiny nodes is bounded by count, not only by size. */
START_TEST(test_ynode_too_many_nodes_is_refused)
{
	size_t	 n = YNODE_MAX_NODES + 1, off = 0, j;
	char	*text = malloc(n * 3 + 16), err[256];

	ck_assert_ptr_nonnull(text);
	text[off++] = '[';
	for (j = 0; j < n; j++) {
		text[off++] = '1';
		text[off++] = ',';
	}
	text[off - 1] = ']';
	ck_assert_ptr_null(ynode_parse("t.yaml", text, off, err,
	    sizeof(err)));
	ck_assert_msg(strstr(err, "too many YAML nodes") != NULL, "%s", err);
	ck_assert_msg(strncmp(err, "t.yaml:1:", 9) == 0, "%s", err);
	free(text);
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

/* A FIFO in the file's place is refused at once, not waited on. */
START_TEST(test_ynode_fifo_is_refused_without_blocking)
{
	char		 dir[] = "/tmp/ynode-fifo-XXXXXX", path[64], err[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/k.yaml", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_ptr_null(ynode_parse_file(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	(void)unlink(path);
	(void)rmdir(dir);
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

/* What a stream is handed: each item, positioned, one at a time. */
struct seen_items {
	size_t	n;
	int	lines[8];
	char	arns[8][16];
};

static void
seen_item(void *arg, struct ynode *item, size_t idx)
{
	struct seen_items	*s = arg;
	struct ynode		*v = ynode_get(item, "arn");

	ck_assert_uint_eq(idx, s->n);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(item->file, "t.yaml");
	s->lines[s->n] = item->line;
	(void)snprintf(s->arns[s->n], sizeof(s->arns[0]), "%s", v->value);
	s->n++;
	ynode_free_subtree(item);
}

START_TEST(test_ynode_stream_hands_over_the_root_keys_items)
{
	static const char	 text[] = "keys:\n  - arn: a\n  - {arn: b}\n"
	    "other:\n  keys:\n    - arn: c\nlast: 1\n";
	struct ynode_stream	 st;
	struct seen_items	 s;
	struct ynode		*r, *k;
	char			 err[256];

	memset(&s, 0, sizeof(s));
	st.key = "keys";
	st.item = seen_item;
	st.arg = &s;
	r = ynode_parse_stream("t.yaml", text, strlen(text), &st, err,
	    sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.arns[0], "a");
	ck_assert_int_eq(s.lines[0], 2);
	ck_assert_str_eq(s.arns[1], "b");
	ck_assert_int_eq(s.lines[1], 3);
	/* The root's sequence is there, empty; a nested keys: is not the
	 * stream's. */
	k = ynode_get(r, "keys");
	ck_assert_int_eq(k->type, YNODE_SEQ);
	ck_assert_uint_eq(k->nitems, 0);
	k = ynode_get(ynode_get(r, "other"), "keys");
	ck_assert_uint_eq(k->nitems, 1);
	ck_assert_str_eq(ynode_get(r, "last")->value, "1");
	ynode_free(r);
}
END_TEST

START_TEST(test_ynode_stream_error_names_the_position)
{
	static const char	 text[] = "keys:\n  - arn: a\n  - arn: [b\n";
	struct ynode_stream	 st;
	struct seen_items	 s;
	char			 err[256];

	memset(&s, 0, sizeof(s));
	st.key = "keys";
	st.item = seen_item;
	st.arg = &s;
	ck_assert_ptr_null(ynode_parse_stream("t.yaml", text, strlen(text),
	    &st, err, sizeof(err)));
	ck_assert_uint_eq(s.n, 1);
	ck_assert_msg(strncmp(err, "t.yaml:4:", 9) == 0, "%s", err);
}
END_TEST

static Suite *
ynode_suite(void)
{
	Suite	*s = suite_create("ynode");
	TCase	*tc = tcase_create("parse");

	/* The large-file cases take seconds under the sanitizers. */
	tcase_set_timeout(tc, 120);

	tcase_add_test(tc, test_ynode_positions_are_one_based);
	tcase_add_test(tc, test_ynode_duplicate_key_is_an_error);
	tcase_add_test(tc, test_ynode_syntax_error_names_position);
	tcase_add_test(tc, test_ynode_refuses_aliases_and_anchors);
	tcase_add_test(tc, test_ynode_refuses_tags_with_position);
	tcase_add_test(tc, test_ynode_duplicate_in_a_large_mapping);
	tcase_add_test(tc, test_ynode_similar_keys_are_not_duplicates);
	tcase_add_test(tc, test_ynode_too_many_nodes_is_refused);
	tcase_add_test(tc, test_ynode_empty_file_is_empty_map);
	tcase_add_test(tc, test_ynode_deep_nesting_is_refused);
	tcase_add_test(tc, test_ynode_null_scalars);
	tcase_add_test(tc, test_ynode_missing_file_says_why);
	tcase_add_test(tc, test_ynode_fifo_is_refused_without_blocking);
	tcase_add_test(tc, test_ynode_stream_hands_over_the_root_keys_items);
	tcase_add_test(tc, test_ynode_stream_error_names_the_position);
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

/*
 * lib/catalog: the one table of checks, and the files that must agree
 * with it: systemd/keyhealthd.catalog (printed from the table) and the
 * CHECKS section of man/keyhealthd.8.  Run from the top of the tree, as
 * `make unit` does.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "check.h"

static char *
slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 n;

	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: cannot open (run from the top of the "
	    "tree)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int
hex32(const char *s)
{
	size_t	i;

	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return s[32] == '\0';
}

START_TEST(test_catalog_rows_are_complete_and_unique)
{
	size_t	i, j, n = catalog_count();

	ck_assert_uint_eq(n, 15);
	for (i = 0; i < n; i++) {
		const struct catalog_entry *e = &catalog_checks[i];

		ck_assert_msg(hex32(e->message_id), "%s", e->id);
		ck_assert(e->severity != SEV_OK);
		ck_assert(e->title[0] != '\0' && e->text[0] != '\0' &&
		    e->remedy[0] != '\0');
		ck_assert_ptr_eq(catalog_find(e->id), e);
		ck_assert_str_ne(e->message_id, catalog_resolved.message_id);
		for (j = 0; j < i; j++) {
			ck_assert_str_ne(e->id, catalog_checks[j].id);
			ck_assert_str_ne(e->message_id,
			    catalog_checks[j].message_id);
		}
	}
	ck_assert(hex32(catalog_resolved.message_id));
	ck_assert_ptr_null(catalog_find("key-disabledx"));
	ck_assert_ptr_null(catalog_find(NULL));
	ck_assert_int_eq(catalog_find(CHECK_KEY_MATERIAL_EXPIRING)->severity,
	    SEV_WARNING);
	ck_assert_int_eq(catalog_find(CHECK_CHECK_FAILED)->severity,
	    SEV_UNKNOWN);
}
END_TEST

/* The shipped catalog is exactly what the table prints (`make catalog`). */
START_TEST(test_catalog_journald_file_is_the_table)
{
	char	*file = slurp("systemd/keyhealthd.catalog"), *printed = NULL;
	size_t	 len = 0, i;
	FILE	*f = open_memstream(&printed, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(catalog_print_journal(f), 0);
	fclose(f);
	for (i = 0; file[i] != '\0' && file[i] == printed[i]; i++)
		;
	ck_assert_msg(file[i] == printed[i], "systemd/keyhealthd.catalog "
	    "differs from lib/catalog.c's table at byte %zu (\"%.60s\" vs "
	    "\"%.60s\"): run `make catalog`", i, file + i, printed + i);
	free(file);
	free(printed);
}
END_TEST

/*
 * keyhealthd(8) lists every check, in the table's order, each as
 * ".It Cm ID" followed by a line that starts with its severity.
 */
START_TEST(test_catalog_man_page_lists_the_table)
{
	char		*man = slurp("man/keyhealthd.8"), *p, *end, *nl;
	char		 id[64], want[16];
	size_t		 n = 0, len;
	const char	*sev;

	p = strstr(man, "\n.Sh CHECKS\n");
	ck_assert_ptr_nonnull(p);
	end = strstr(p + 1, "\n.Sh ");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	while ((p = strstr(p, "\n.It Cm ")) != NULL) {
		p += strlen("\n.It Cm ");
		len = strcspn(p, " \n");
		ck_assert_uint_lt(len, sizeof(id));
		memcpy(id, p, len);
		id[len] = '\0';
		ck_assert_msg(catalog_checks[n].id != NULL, "keyhealthd.8 "
		    "lists %s, which is not in the table", id);
		ck_assert_msg(strcmp(id, catalog_checks[n].id) == 0,
		    "keyhealthd.8 lists %s where the table has %s", id,
		    catalog_checks[n].id);
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		sev = severity_name(catalog_checks[n].severity);
		(void)snprintf(want, sizeof(want), "%c%s",
		    toupper((unsigned char)sev[0]), sev + 1);
		ck_assert_msg(strncmp(nl + 1, want, strlen(want)) == 0,
		    "keyhealthd.8: %s should say %s first, says \"%.20s\"",
		    id, want, nl + 1);
		n++;
	}
	ck_assert_msg(n == catalog_count(), "keyhealthd.8 lists %zu checks, "
	    "the table %zu", n, catalog_count());
	free(man);
}
END_TEST

static Suite *
catalog_suite(void)
{
	Suite	*s = suite_create("catalog");
	TCase	*tc = tcase_create("table");

	tcase_add_test(tc, test_catalog_rows_are_complete_and_unique);
	tcase_add_test(tc, test_catalog_journald_file_is_the_table);
	tcase_add_test(tc, test_catalog_man_page_lists_the_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(catalog_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

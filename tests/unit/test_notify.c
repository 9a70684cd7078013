/*
 * lib/notify: the type table, common options, filters, config errors with
 * positions, external modules (and the ones that must be refused).
 */
#include <check.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert.h"
#include "notify.h"
#include "ynode.h"

#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab"

static char	modules[PATH_MAX / 2];	/* BUILD/tests/modules */
static char	tmpdir[PATH_MAX / 2];

/* The first notifier of "notifiers:" in text; NULL with err set. */
static struct notifier *
conf(const char *text, char *err, size_t errlen)
{
	struct ynode	*root;
	struct notifier	*n;

	root = ynode_parse("t.yaml", text, strlen(text), err, errlen);
	ck_assert_msg(root != NULL, "%s", err);
	n = notify_new(ynode_get(root, "notifiers")->items[0], err, errlen);
	ynode_free(root);
	return n;
}

static void
conf_fails(const char *text, const char *want)
{
	char		 err[1024];
	struct notifier	*n = conf(text, err, sizeof(err));

	ck_assert_msg(n == NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'",
	    err, want);
}

static struct alert_event
mkevent(const char *check, enum severity sev, enum alert_status st)
{
	struct alert_event	ev;

	memset(&ev, 0, sizeof(ev));
	alert_event_new_id(ev.id);
	alert_fingerprint(ARN, check, ev.fingerprint);
	ev.status = st;
	ev.check = strdup(check);
	ev.severity = sev;
	ev.key_arn = strdup(ARN);
	ev.details = json_object();
	return ev;
}

static int
passes(const struct notifier *n, const char *check, enum severity sev,
    enum alert_status st)
{
	struct alert_event	ev = mkevent(check, sev, st);
	int			r = notify_filter(n, &ev);

	alert_event_clear(&ev);
	return r;
}

START_TEST(test_notify_table_has_the_builtin_types)
{
	const char * const	*t = notify_type_names();
	size_t			 i;

	ck_assert_ptr_nonnull(notify_lookup("journald"));
	ck_assert_ptr_nonnull(notify_lookup("webhook"));
	ck_assert_ptr_nonnull(notify_lookup("exec"));
	ck_assert_ptr_null(notify_lookup("module"));
	ck_assert_ptr_null(notify_lookup("carrier-pigeon"));
	for (i = 0; t[i] != NULL; i++)
		ck_assert_ptr_eq(notify_lookup(t[i])->type, t[i]);
	ck_assert_uint_ge(i, 3);
}
END_TEST

START_TEST(test_notify_unknown_type_names_its_position)
{
	conf_fails("notifiers:\n  - type: carrier-pigeon\n",
	    "t.yaml:2:11: unknown notifier type 'carrier-pigeon'");
}
END_TEST

START_TEST(test_notify_missing_type_is_an_error)
{
	conf_fails("notifiers:\n  - name: x\n",
	    "t.yaml:2:5: a notifier needs a 'type'");
}
END_TEST

START_TEST(test_notify_name_defaults_to_the_type)
{
	char		 err[256];
	struct notifier	*n = conf("notifiers:\n  - type: journald\n", err,
	    sizeof(err));

	ck_assert_msg(n != NULL, "%s", err);
	ck_assert_str_eq(notify_name(n), "journald");
	ck_assert_str_eq(notify_type(n), "journald");
	notify_free(n);
	n = conf("notifiers:\n  - type: journald\n    name: ops-journal\n",
	    err, sizeof(err));
	ck_assert_str_eq(notify_name(n), "ops-journal");
	notify_free(n);
}
END_TEST

START_TEST(test_notify_bad_name_is_rejected)
{
	conf_fails("notifiers:\n  - type: journald\n    name: ../etc\n",
	    "t.yaml:3:11: bad notifier name '../etc'");
}
END_TEST

START_TEST(test_notify_duplicate_names_are_rejected)
{
	const char	*text = "notifiers:\n  - type: journald\n"
	    "  - type: journald\n";
	char		 err[256];
	struct ynode	*root;
	struct notifier	**v;
	size_t		 n;

	root = ynode_parse("t.yaml", text, strlen(text), err, sizeof(err));
	ck_assert_int_eq(notify_new_all(ynode_get(root, "notifiers"), &v, &n,
	    err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "t.yaml:3:11: a second "
	    "notifier named 'journald'") != NULL, "%s", err);
	ynode_free(root);
}
END_TEST

START_TEST(test_notify_unknown_key_is_rejected_with_position)
{
	conf_fails("notifiers:\n  - type: journald\n    colour: red\n",
	    "t.yaml:3:5: unknown option \"colour\" for a journald notifier");
}
END_TEST

START_TEST(test_notify_unknown_check_id_is_rejected_with_position)
{
	conf_fails("notifiers:\n  - type: journald\n"
	    "    checks: [key-disabled, key-disbled]\n",
	    "t.yaml:3:28: 'checks': unknown check id 'key-disbled'");
	conf_fails("notifiers:\n  - type: journald\n"
	    "    exclude_checks:\n      - nope\n",
	    "t.yaml:4:9: 'exclude_checks': unknown check id 'nope'");
}
END_TEST

START_TEST(test_notify_bad_min_severity_is_rejected)
{
	conf_fails("notifiers:\n  - type: journald\n    min_severity: ok\n",
	    "t.yaml:3:19: min_severity: 'ok' is not one of");
}
END_TEST

START_TEST(test_notify_min_severity_filters)
{
	char		 err[256];
	struct notifier	*n = conf("notifiers:\n  - type: journald\n"
	    "    min_severity: warning\n", err, sizeof(err));

	ck_assert_msg(n != NULL, "%s", err);
	ck_assert(!passes(n, "key-material-rotated", SEV_INFO, ALERT_FIRING));
	ck_assert(passes(n, "policy-changed", SEV_WARNING, ALERT_FIRING));
	ck_assert(passes(n, "check-failed", SEV_UNKNOWN, ALERT_FIRING));
	ck_assert(passes(n, "key-disabled", SEV_CRITICAL, ALERT_FIRING));
	/* A resolved event carries its alert's peak severity. */
	ck_assert(passes(n, "key-disabled", SEV_CRITICAL, ALERT_RESOLVED));
	ck_assert(!passes(n, "key-material-rotated", SEV_INFO,
	    ALERT_RESOLVED));
	notify_free(n);
}
END_TEST

START_TEST(test_notify_check_lists_filter)
{
	char		 err[256];
	struct notifier	*n;

	n = conf("notifiers:\n  - type: journald\n"
	    "    checks: [key-disabled, key-deleted]\n", err, sizeof(err));
	ck_assert_msg(n != NULL, "%s", err);
	ck_assert(passes(n, "key-disabled", SEV_CRITICAL, ALERT_FIRING));
	ck_assert(passes(n, "key-deleted", SEV_CRITICAL, ALERT_RESOLVED));
	ck_assert(!passes(n, "key-replaced", SEV_CRITICAL, ALERT_FIRING));
	notify_free(n);
	n = conf("notifiers:\n  - type: journald\n"
	    "    exclude_checks: [policy-changed]\n", err, sizeof(err));
	ck_assert(!passes(n, "policy-changed", SEV_WARNING, ALERT_FIRING));
	ck_assert(!passes(n, "policy-changed", SEV_WARNING, ALERT_RESOLVED));
	ck_assert(passes(n, "key-disabled", SEV_CRITICAL, ALERT_FIRING));
	notify_free(n);
}
END_TEST

static void
record_done(void *arg, enum notify_result r, const char *why)
{
	(void)why;
	*(int *)arg = (int)r;
}

START_TEST(test_notify_module_loads_and_delivers)
{
	char		 text[3 * PATH_MAX], err[512], out[PATH_MAX], line[512];
	struct notifier	*n;
	struct notify_env env = { NULL, NULL, "h", "keyhealthd/test" };
	struct alert_event ev = mkevent("key-disabled", SEV_CRITICAL,
	    ALERT_FIRING);
	FILE		*f;
	int		 got = -1;

	(void)snprintf(out, sizeof(out), "%s/sample.out", tmpdir);
	(void)snprintf(text, sizeof(text), "notifiers:\n  - type: module\n"
	    "    name: sample1\n    path: %s/sample_notify.so\n"
	    "    file: %s\n", modules, out);
	n = conf(text, err, sizeof(err));
	ck_assert_msg(n != NULL, "%s", err);
	ck_assert_str_eq(notify_name(n), "sample1");
	ck_assert_int_eq(notify_start(n, &env, err, sizeof(err)), 0);
	ck_assert_int_eq(notify_send(n, &ev, record_done, &got), 0);
	ck_assert_int_eq(got, NOTIFY_ACK);
	alert_event_clear(&ev);
	notify_free(n);
	ck_assert_ptr_nonnull(f = fopen(out, "r"));
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_msg(strncmp(line, "firing key-disabled critical " ARN,
	    strlen("firing key-disabled critical " ARN)) == 0, "%s", line);
}
END_TEST

START_TEST(test_notify_module_abi_mismatch_is_a_config_error)
{
	char	text[3 * PATH_MAX];

	(void)snprintf(text, sizeof(text), "notifiers:\n  - type: module\n"
	    "    path: %s/sample_notify_badabi.so\n    file: x\n", modules);
	conf_fails(text, "t.yaml:3:11: module ");
	conf_fails(text, "has notifier ABI 999, this keyhealthd needs 2");
}
END_TEST

START_TEST(test_notify_module_without_descriptor_is_a_config_error)
{
	char	text[3 * PATH_MAX];

	(void)snprintf(text, sizeof(text), "notifiers:\n  - type: module\n"
	    "    path: %s/sample_notify_nosym.so\n", modules);
	conf_fails(text, "does not export keyhealthd_notify_module");
}
END_TEST

START_TEST(test_notify_missing_module_file_is_a_config_error)
{
	conf_fails("notifiers:\n  - type: module\n"
	    "    path: ./no/such/module.so\n",
	    "t.yaml:3:11: cannot load module: ./no/such/module.so");
	conf_fails("notifiers:\n  - type: module\n",
	    "t.yaml:2:5: a module notifier needs 'path'");
}
END_TEST

START_TEST(test_notify_module_config_errors_come_from_the_module)
{
	char	text[3 * PATH_MAX];

	(void)snprintf(text, sizeof(text), "notifiers:\n  - type: module\n"
	    "    path: %s/sample_notify.so\n", modules);
	conf_fails(text, "t.yaml:2:5: sample module: missing 'file'");
}
END_TEST

static void
write_secret(const char *path, mode_t mode)
{
	int	fd;

	(void)unlink(path);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT, 0600), -1);
	ck_assert_int_eq(write(fd, "hunter2\n", 8), 8);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_notify_webhook_refuses_a_world_readable_secret)
{
	char		 path[PATH_MAX], text[3 * PATH_MAX], err[1024];
	struct notifier	*n;

	(void)snprintf(path, sizeof(path), "%s/secret", tmpdir);
	write_secret(path, 0644);
	(void)snprintf(text, sizeof(text), "notifiers:\n  - type: webhook\n"
	    "    url: http://127.0.0.1:9/hook\n    secret_file: %s\n", path);
	n = conf(text, err, sizeof(err));
	ck_assert_ptr_null(n);
	ck_assert_msg(strstr(err, "t.yaml:4:18: secret_file: ") != NULL &&
	    strstr(err, "other users may read it") != NULL, "%s", err);
	ck_assert_ptr_null(strstr(err, "hunter2"));
	write_secret(path, 0600);
	n = conf(text, err, sizeof(err));
	ck_assert_msg(n != NULL, "%s", err);
	notify_free(n);
}
END_TEST

START_TEST(test_notify_webhook_config_errors)
{
	conf_fails("notifiers:\n  - type: webhook\n",
	    "t.yaml:2:5: a webhook notifier needs \"url\"");
	conf_fails("notifiers:\n  - type: webhook\n    url: ftp://x/\n",
	    "t.yaml:3:10: url: expected an http:// or https:// URL in "
	    "'ftp://x/'");
	conf_fails("notifiers:\n  - type: webhook\n    url: http://x/\n"
	    "    headers: {Idempotency-Key: 1}\n",
	    "t.yaml:4:15: webhook: header 'Idempotency-Key' is set by");
	conf_fails("notifiers:\n  - type: webhook\n    url: http://x/\n"
	    "    timeout: 5 minutes\n",
	    "t.yaml:4:14: timeout: bad duration '5 minutes'");
	conf_fails("notifiers:\n  - type: webhook\n    url: http://x/\n"
	    "    secret_file: /nonexistent/secret\n",
	    "t.yaml:4:18: secret_file: /nonexistent/secret: No such file");
}
END_TEST

START_TEST(test_notify_exec_config_errors)
{
	conf_fails("notifiers:\n  - type: exec\n    command: /bin/true\n",
	    "t.yaml:3:14: exec: 'command' must be a non-empty list");
	conf_fails("notifiers:\n  - type: exec\n"
	    "    command: [no-such-program-kh]\n",
	    "t.yaml:3:15: exec: program 'no-such-program-kh' not found");
}
END_TEST

static void
setup(void)
{
	char		 self[PATH_MAX];
	ssize_t		 n;
	const char	*tmp = getenv("TMPDIR");

	ck_assert_int_gt(n = readlink("/proc/self/exe", self,
	    sizeof(self) - 1), 0);
	self[n] = '\0';
	/* BUILD/tests/unit/test_notify -> BUILD/tests/modules */
	(void)snprintf(modules, sizeof(modules), "%s/../modules",
	    dirname(self));
	(void)snprintf(tmpdir, sizeof(tmpdir), "%s/test_notify.XXXXXX",
	    tmp != NULL ? tmp : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char	cmd[PATH_MAX];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static Suite *
notify_suite(void)
{
	Suite	*s = suite_create("notify");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_notify_table_has_the_builtin_types);
	tcase_add_test(tc, test_notify_unknown_type_names_its_position);
	tcase_add_test(tc, test_notify_missing_type_is_an_error);
	tcase_add_test(tc, test_notify_name_defaults_to_the_type);
	tcase_add_test(tc, test_notify_bad_name_is_rejected);
	tcase_add_test(tc, test_notify_duplicate_names_are_rejected);
	tcase_add_test(tc, test_notify_unknown_key_is_rejected_with_position);
	tcase_add_test(tc,
	    test_notify_unknown_check_id_is_rejected_with_position);
	tcase_add_test(tc, test_notify_bad_min_severity_is_rejected);
	tcase_add_test(tc, test_notify_min_severity_filters);
	tcase_add_test(tc, test_notify_check_lists_filter);
	tcase_add_test(tc, test_notify_module_loads_and_delivers);
	tcase_add_test(tc, test_notify_module_abi_mismatch_is_a_config_error);
	tcase_add_test(tc,
	    test_notify_module_without_descriptor_is_a_config_error);
	tcase_add_test(tc, test_notify_missing_module_file_is_a_config_error);
	tcase_add_test(tc,
	    test_notify_module_config_errors_come_from_the_module);
	tcase_add_test(tc, test_notify_webhook_refuses_a_world_readable_secret);
	tcase_add_test(tc, test_notify_webhook_config_errors);
	tcase_add_test(tc, test_notify_exec_config_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(notify_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

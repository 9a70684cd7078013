/*
 * The pagerduty, alertmanager and slack notifiers: their payloads follow
 * the receivers' documented shapes, and their configure() refuses what it
 * cannot use with FILE:LINE:COLUMN, without ever showing a secret.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "alert.h"
#include "http.h"
#include "notify.h"
#include "notify_payloads.h"
#include "notify_util.h"
#include "ynode.h"


#define ARN	"arn:aws:kms:eu-west-1:111122223333:key/" \
		"1234abcd-12ab-34cd-56ef-1234567890ab"
#define FP	"3f0c4f6a8e1b2d5c7a9e0f1b3d5c7a9e0f1b3d5c7a9e0f1b3d5c7a9e0f1b3d5c"
#define SECRET	"R0ut1ngK3yThatMustNeverBeLogged0"

static struct alert_event *
event_new(enum alert_status status, enum severity sev, const char *check,
    const char *summary)
{
	struct alert_event	*ev = calloc(1, sizeof(*ev));

	ck_assert_ptr_nonnull(ev);
	(void)snprintf(ev->id, sizeof(ev->id), "evt-1");
	(void)snprintf(ev->fingerprint, sizeof(ev->fingerprint), "%s", FP);
	ev->status = status;
	ev->check = strdup(check);
	ev->severity = sev;
	ev->key_arn = strdup(ARN);
	ev->key_name = strdup("gearset-eu");
	ev->region = strdup("eu-west-1");
	ev->account = strdup("111122223333");
	ev->summary = strdup(summary);
	ev->details = json_pack("{s:s, s:i}", "deletion_date",
	    "2026-12-05T00:00:00Z", "days_left", 7);
	ev->started_at = 1764366000;	/* 2025-11-28T21:40:00Z */
	ev->ended_at = status == ALERT_FIRING ? 0 : 1764369600;
	return ev;
}

static void
event_free(struct alert_event *ev)
{
	free(ev->check);
	free(ev->key_arn);
	free(ev->key_name);
	free(ev->region);
	free(ev->account);
	free(ev->summary);
	json_decref(ev->details);
	free(ev);
}

static const char *
jstr(const json_t *o, const char *path)
{
	char		 key[64];
	const char	*dot;
	const json_t	*cur = o;
	size_t		 n;

	/* "a.b.c": one object member per dotted part. */
	for (;;) {
		dot = strchr(path, '.');
		n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		ck_assert_uint_lt(n, sizeof(key));
		memcpy(key, path, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		if (dot == NULL)
			break;
		path = dot + 1;
	}
	return json_string_value(cur);
}

/* A private directory for secret files, removed by the test's fork. */
static char *
scratch_dir(void)
{
	static char	dir[256];

	(void)snprintf(dir, sizeof(dir), "%s/kh-notify-XXXXXX", P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static int
configure(const struct notify_ops *ops, const char *yaml, void **state,
    char *err, size_t errlen)
{
	struct notify_conf_text	 t;
	struct notify_conf	 nc;
	struct ynode		*root;
	int			 rc;

	root = ynode_parse("kh.yaml", yaml, strlen(yaml), err, errlen);
	ck_assert_msg(root != NULL, "%s", err);
	notify_conf_init_text(&nc, &t, err, errlen);
	rc = ops->configure(root, state, &nc);
	ynode_free(root);
	/* configure() fails exactly when it reported something. */
	ck_assert_int_eq(rc == -1, t.n > 0);
	return rc;
}

/* ---- PagerDuty payloads ---- */

START_TEST(test_pagerduty_trigger_has_the_documented_fields)
{
	struct alert_event	*ev = event_new(ALERT_FIRING, SEV_CRITICAL,
				    "key-pending-deletion",
				    "key gearset-eu is scheduled for deletion");
	json_t			*p, *cd;

	p = notify_pagerduty_payload(ev, SECRET, "host1", "keyhealthd/0.1.0");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(jstr(p, "routing_key"), SECRET);
	ck_assert_str_eq(jstr(p, "event_action"), "trigger");
	ck_assert_str_eq(jstr(p, "dedup_key"), FP);
	ck_assert_str_eq(jstr(p, "payload.summary"),
	    "key gearset-eu is scheduled for deletion");
	ck_assert_str_eq(jstr(p, "payload.source"), "host1");
	ck_assert_str_eq(jstr(p, "payload.severity"), "critical");
	ck_assert_str_eq(jstr(p, "payload.component"), "gearset-eu");
	ck_assert_str_eq(jstr(p, "payload.group"), "eu-west-1/111122223333");
	ck_assert_str_eq(jstr(p, "payload.class"), "key-pending-deletion");
	ck_assert_str_eq(jstr(p, "payload.timestamp"), "2025-11-28T21:40:00Z");
	cd = json_object_get(json_object_get(p, "payload"), "custom_details");
	ck_assert(json_is_object(cd));
	ck_assert_str_eq(jstr(cd, "key_arn"), ARN);
	ck_assert_int_eq(json_integer_value(json_object_get(cd, "days_left")),
	    7);
	json_decref(p);
	event_free(ev);
}
END_TEST

START_TEST(test_pagerduty_resolve_carries_only_the_keys)
{
	struct alert_event	*ev = event_new(ALERT_RESOLVED, SEV_CRITICAL,
				    "key-disabled", "enabled again");
	json_t			*p;

	p = notify_pagerduty_payload(ev, SECRET, "host1", NULL);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(jstr(p, "event_action"), "resolve");
	ck_assert_str_eq(jstr(p, "dedup_key"), FP);
	ck_assert_str_eq(jstr(p, "routing_key"), SECRET);
	ck_assert_ptr_null(json_object_get(p, "payload"));
	json_decref(p);
	event_free(ev);
}
END_TEST

START_TEST(test_pagerduty_severity_maps_unknown_to_error)
{
	ck_assert_str_eq(notify_pagerduty_severity(SEV_CRITICAL), "critical");
	ck_assert_str_eq(notify_pagerduty_severity(SEV_WARNING), "warning");
	ck_assert_str_eq(notify_pagerduty_severity(SEV_INFO), "info");
	ck_assert_str_eq(notify_pagerduty_severity(SEV_UNKNOWN), "error");
}
END_TEST

START_TEST(test_pagerduty_summary_is_cut_to_1024_without_splitting_utf8)
{
	char			 big[3000];
	struct alert_event	*ev;
	json_t			*p;
	const char		*s;
	size_t			 i;

	/* "é" is two bytes: an odd cut point would split one. */
	big[0] = 'x';
	for (i = 1; i + 2 < sizeof(big); i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[i] = '\0';
	ev = event_new(ALERT_FIRING, SEV_WARNING, "policy-changed", big);
	p = notify_pagerduty_payload(ev, SECRET, "h", NULL);
	ck_assert_ptr_nonnull(p);
	s = jstr(p, "payload.summary");
	ck_assert_ptr_nonnull(s);	/* jansson refuses invalid UTF-8 */
	ck_assert_uint_le(strlen(s), NOTIFY_PAGERDUTY_SUMMARY_MAX);
	ck_assert_uint_ge(strlen(s), NOTIFY_PAGERDUTY_SUMMARY_MAX - 4);
	ck_assert_str_eq(s + strlen(s) - 3, "...");
	json_decref(p);
	event_free(ev);
}
END_TEST

/* ---- Alertmanager payloads ---- */

START_TEST(test_alertmanager_alertname_is_camel_case_of_the_check)
{
	char	buf[64];

	ck_assert_str_eq(notify_alertmanager_alertname("check-failed", buf,
	    sizeof(buf)), "KeyhealthdCheckFailed");
	ck_assert_str_eq(notify_alertmanager_alertname("key-pending-deletion",
	    buf, sizeof(buf)), "KeyhealthdKeyPendingDeletion");
	ck_assert_str_eq(notify_alertmanager_alertname("key-pending-deletion",
	    buf, 14), "KeyhealthdKey");
}
END_TEST

START_TEST(test_alertmanager_alert_has_the_contract_labels)
{
	struct alert_event	*ev = event_new(ALERT_FIRING, SEV_CRITICAL,
				    "key-disabled", "key gearset-eu is disabled");
	json_t			*a, *extra;

	extra = json_pack("{s:s}", "team", "storage");
	a = notify_alertmanager_alert(ev, extra, "host1", NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(jstr(a, "labels.alertname"), "KeyhealthdKeyDisabled");
	ck_assert_str_eq(jstr(a, "labels.check"), "key-disabled");
	ck_assert_str_eq(jstr(a, "labels.severity"), "critical");
	ck_assert_str_eq(jstr(a, "labels.key_arn"), ARN);
	ck_assert_str_eq(jstr(a, "labels.key_name"), "gearset-eu");
	ck_assert_str_eq(jstr(a, "labels.region"), "eu-west-1");
	ck_assert_str_eq(jstr(a, "labels.account"), "111122223333");
	ck_assert_str_eq(jstr(a, "labels.team"), "storage");
	ck_assert_str_eq(jstr(a, "annotations.summary"),
	    "key gearset-eu is disabled");
	ck_assert_ptr_nonnull(strstr(jstr(a, "annotations.description"),
	    "days_left"));
	ck_assert_str_eq(jstr(a, "annotations.fingerprint"), FP);
	ck_assert_str_eq(jstr(a, "startsAt"), "2025-11-28T21:40:00Z");
	ck_assert_ptr_null(json_object_get(a, "endsAt"));
	ck_assert_ptr_null(json_object_get(a, "generatorURL"));
	json_decref(a);
	json_decref(extra);
	event_free(ev);
}
END_TEST

START_TEST(test_alertmanager_resolve_sets_ends_at)
{
	struct alert_event	*ev = event_new(ALERT_RESOLVED, SEV_WARNING,
				    "rotation-disabled", "rotation is on again");
	json_t			*a;

	a = notify_alertmanager_alert(ev, NULL, NULL, "https://x.example/kh",
	    ev->ended_at);
	ck_assert_str_eq(jstr(a, "endsAt"), "2025-11-28T22:40:00Z");
	ck_assert_str_eq(jstr(a, "generatorURL"), "https://x.example/kh");
	json_decref(a);
	/* Alertmanager refuses an end before the start. */
	a = notify_alertmanager_alert(ev, NULL, NULL, NULL, 1000);
	ck_assert_str_eq(jstr(a, "endsAt"), jstr(a, "startsAt"));
	json_decref(a);
	event_free(ev);
}
END_TEST

START_TEST(test_alertmanager_empty_labels_are_left_out)
{
	struct alert_event	*ev = event_new(ALERT_FIRING, SEV_UNKNOWN,
				    "check-failed", "AccessDeniedException");
	json_t			*a;

	free(ev->region);
	ev->region = NULL;
	free(ev->account);
	ev->account = strdup("");
	a = notify_alertmanager_alert(ev, NULL, NULL, NULL, 0);
	ck_assert_ptr_null(json_object_get(json_object_get(a, "labels"),
	    "region"));
	ck_assert_ptr_null(json_object_get(json_object_get(a, "labels"),
	    "account"));
	ck_assert_str_eq(jstr(a, "labels.severity"), "unknown");
	json_decref(a);
	event_free(ev);
}
END_TEST

/* ---- Slack payloads ---- */

START_TEST(test_slack_message_has_text_and_blocks)
{
	struct alert_event	*ev = event_new(ALERT_FIRING, SEV_CRITICAL,
				    "vendor-access-missing",
				    "the vendor lost kms:Decrypt");
	json_t			*m, *blocks, *b, *fields;
	char			*dump;
	size_t			 i;

	m = notify_slack_message(ev, "host1", "keyhealthd/0.1.0");
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(strstr(jstr(m, "text"), "FIRING"));
	ck_assert_ptr_nonnull(strstr(jstr(m, "text"),
	    "the vendor lost kms:Decrypt"));
	blocks = json_object_get(m, "blocks");
	ck_assert(json_is_array(blocks));
	ck_assert_uint_ge(json_array_size(blocks), 4);
	b = json_array_get(blocks, 0);
	ck_assert_str_eq(jstr(b, "type"), "header");
	ck_assert_str_eq(jstr(b, "text.type"), "plain_text");
	ck_assert_uint_le(strlen(jstr(b, "text.text")), 150);
	json_array_foreach(blocks, i, b) {
		if ((fields = json_object_get(b, "fields")) != NULL)
			ck_assert_uint_le(json_array_size(fields), 10);
	}
	dump = json_dumps(m, 0);
	ck_assert_ptr_nonnull(strstr(dump, ARN));
	ck_assert_ptr_nonnull(strstr(dump, "gearset-eu"));
	ck_assert_ptr_nonnull(strstr(dump, "days_left=7"));
	ck_assert_ptr_nonnull(strstr(dump, "critical"));
	free(dump);
	json_decref(m);
	event_free(ev);
}
END_TEST

START_TEST(test_slack_escapes_mrkdwn_control_characters)
{
	struct alert_event	*ev = event_new(ALERT_FIRING, SEV_WARNING,
				    "policy-changed",
				    "<!channel> & <https://evil|click>");
	json_t			*m;
	char			*dump;

	m = notify_slack_message(ev, NULL, NULL);
	dump = json_dumps(m, 0);
	ck_assert_ptr_null(strstr(dump, "<!channel>"));
	ck_assert_ptr_nonnull(strstr(dump, "&lt;!channel&gt; &amp; "
	    "&lt;https://evil|click&gt;"));
	free(dump);
	json_decref(m);
	event_free(ev);
}
END_TEST

START_TEST(test_slack_resolved_says_so)
{
	struct alert_event	*ev = event_new(ALERT_RESOLVED, SEV_CRITICAL,
				    "key-disabled", "enabled");
	json_t			*m;

	m = notify_slack_message(ev, "h", NULL);
	ck_assert_ptr_nonnull(strstr(jstr(m, "text"), "RESOLVED"));
	ck_assert_ptr_nonnull(strstr(jstr(json_array_get(json_object_get(m,
	    "blocks"), 0), "text.text"), ":white_check_mark:"));
	json_decref(m);
	event_free(ev);
}
END_TEST

START_TEST(test_slack_long_summary_fits_the_section_limit)
{
	char			*big = malloc(10001);
	struct alert_event	*ev;
	json_t			*m;

	memset(big, '<', 10000);
	big[10000] = '\0';
	ev = event_new(ALERT_FIRING, SEV_INFO, "key-material-rotated", big);
	m = notify_slack_message(ev, NULL, NULL);
	ck_assert_uint_le(strlen(jstr(json_array_get(json_object_get(m,
	    "blocks"), 1), "text.text")), 3000);
	ck_assert_uint_le(strlen(jstr(m, "text")), 3000);
	json_decref(m);
	event_free(ev);
	free(big);
}
END_TEST

/* ---- configure(): options and errors ---- */

START_TEST(test_config_unknown_option_names_position_and_suggestion)
{
	char	 err[512];
	void	*st;

	ck_assert_int_eq(configure(&notify_pagerduty_ops,
	    "type: pagerduty\nrouting_kee_file: /x\n", &st, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "kh.yaml:2:1: unknown option "
	    "\"routing_kee_file\" for a pagerduty notifier (did you mean "
	    "\"routing_key_file\"?)");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nrepost: 1m\nzzz: 1\n", &st,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:3:1: unknown option \"repost\" for an "
	    "alertmanager notifier");
}
END_TEST

START_TEST(test_config_missing_required_option)
{
	char	 err[512];
	void	*st;

	ck_assert_int_eq(configure(&notify_pagerduty_ops,
	    "type: pagerduty\nname: pd\n", &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:1:1: a pagerduty notifier needs "
	    "\"routing_key_file\"");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\n", &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:1:1: an alertmanager notifier needs "
	    "\"url\"");
	ck_assert_int_eq(configure(&notify_slack_ops, "type: slack\n", &st,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:1:1: a slack notifier needs exactly "
	    "one of \"url_file\" and \"url\"");
}
END_TEST

START_TEST(test_config_wrong_types_are_errors)
{
	char	 err[512];
	void	*st;

	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: [a, b]\n", &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:2:6: url: expected a string, not a "
	    "sequence");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nrepost_interval: soon\n", &st,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:3:18: repost_interval: bad duration "
	    "'soon': expected a number (write e.g. 500ms, 30s, 5m, 1h, "
	    "1h30m, 2d)");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nrepost_interval: 2h\n", &st,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:3:18: repost_interval: must be between "
	    "1s and 1h, got 2h");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nlabels: [x]\n", &st, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:3:9: labels: expected a mapping of "
	    "label names to strings, not a sequence");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: ftp://a\n", &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:2:6: url: expected an http:// or "
	    "https:// URL in 'ftp://a'");
}
END_TEST

START_TEST(test_config_alertmanager_labels_cannot_override_ours)
{
	char	 err[512];
	void	*st;

	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nlabels: {severity: low}\n",
	    &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:3:10: labels: \"severity\" is set by "
	    "keyhealthd and cannot be overridden");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nlabels: {bad-name: x}\n",
	    &st, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "is not a label name"));
}
END_TEST

START_TEST(test_config_common_options_are_accepted)
{
	char	 err[512];
	void	*st = NULL;

	ck_assert_msg(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nname: am\nmin_severity: warning\n"
	    "checks: [key-disabled]\nexclude_checks: [policy-changed]\n"
	    "url: http://127.0.0.1:9093/\nrepost_interval: 30s\n"
	    "timeout: 2s\nlabels: {team: storage}\n"
	    "generator_url: https://status.example.com/kh\n", &st, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(st);
	notify_alertmanager_ops.free(st);
}
END_TEST

START_TEST(test_config_routing_key_file_readable_by_others_is_refused)
{
	char	 err[512], path[512], yaml[1024];
	void	*st = NULL;

	(void)snprintf(path, sizeof(path), "%s/pd-key", scratch_dir());
	write_file(path, SECRET "\n", 0644);
	(void)snprintf(yaml, sizeof(yaml), "type: pagerduty\n"
	    "routing_key_file: %s\n", path);
	ck_assert_int_eq(configure(&notify_pagerduty_ops, yaml, &st, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "(mode 0644): other users may "
	    "read it"));
	ck_assert_ptr_null(strstr(err, SECRET));
	ck_assert_int_eq(chmod(path, 0602), 0);
	ck_assert_int_eq(configure(&notify_pagerduty_ops, yaml, &st, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "may change it"));
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_msg(configure(&notify_pagerduty_ops, yaml, &st, err,
	    sizeof(err)) == 0, "%s", err);
	notify_pagerduty_ops.free(st);
	unlink(path);
	*strrchr(path, '/') = '\0';
	rmdir(path);
}
END_TEST

START_TEST(test_config_credential_names_resolve_under_credentials_directory)
{
	char	*dir = scratch_dir(), path[512], err[512];
	void	*st = NULL;

	(void)snprintf(path, sizeof(path), "%s/pd", dir);
	write_file(path, SECRET, 0600);
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(configure(&notify_pagerduty_ops,
	    "type: pagerduty\nrouting_key_file: pd\n", &st, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "kh.yaml:2:19: routing_key_file: \"pd\" is a "
	    "relative name but $CREDENTIALS_DIRECTORY is not set (use an "
	    "absolute path or LoadCredential=)");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_msg(configure(&notify_pagerduty_ops,
	    "type: pagerduty\nrouting_key_file: pd\nurl: http://127.0.0.1:1/e\n"
	    "source: me\ntimeout: 500ms\n", &st, err, sizeof(err)) == 0, "%s",
	    err);
	notify_pagerduty_ops.free(st);
	ck_assert_int_eq(configure(&notify_pagerduty_ops,
	    "type: pagerduty\nrouting_key_file: ../etc/shadow\n", &st, err,
	    sizeof(err)), -1);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_config_slack_url_never_appears_in_errors)
{
	char	*dir = scratch_dir(), path[512], err[512], yaml[1024];
	void	*st = NULL;

	ck_assert_int_eq(configure(&notify_slack_ops,
	    "type: slack\nurl: hooks.slack.com/services/T0/B0/s3cr3t\n", &st,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:2:6: url: expected an http:// or "
	    "https:// URL");
	ck_assert_int_eq(configure(&notify_slack_ops,
	    "type: slack\nurl: https://a/s3cr3t\nurl_file: /x\n", &st, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	(void)snprintf(path, sizeof(path), "%s/slack", dir);
	write_file(path, "file://s3cr3t\n", 0600);
	(void)snprintf(yaml, sizeof(yaml), "type: slack\nurl_file: %s\n",
	    path);
	ck_assert_int_eq(configure(&notify_slack_ops, yaml, &st, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	write_file(path, "https://hooks.slack.com/services/T0/B0/s3cr3t\n",
	    0600);
	ck_assert_msg(configure(&notify_slack_ops, yaml, &st, err,
	    sizeof(err)) == 0, "%s", err);
	notify_slack_ops.free(st);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_config_alertmanager_relative_state_file_needs_state_directory)
{
	char	 err[512];
	void	*st = NULL;

	unsetenv("STATE_DIRECTORY");
	ck_assert_int_eq(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nstate_file: am.json\n", &st,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "kh.yaml:3:13: state_file: \"am.json\" is a "
	    "relative name but $STATE_DIRECTORY is not set (use an absolute "
	    "path)");
	setenv("STATE_DIRECTORY", "/var/lib/keyhealthd", 1);
	ck_assert_msg(configure(&notify_alertmanager_ops,
	    "type: alertmanager\nurl: http://a\nstate_file: am.json\n", &st,
	    err, sizeof(err)) == 0, "%s", err);
	notify_alertmanager_ops.free(st);
}
END_TEST

/* ---- shared helpers ---- */


START_TEST(test_util_classify_follows_the_retry_contract)
{
	struct http_response	res;
	char			why[256];

	memset(&res, 0, sizeof(res));
	res.ok = 1;
	res.status = 202;
	res.body = "{\"status\":\"success\"}";
	res.bodylen = strlen(res.body);
	ck_assert_int_eq(notify_util_classify(&res, NULL, why, sizeof(why)),
	    NOTIFY_ACK);
	res.status = 400;
	res.body = "invalid routing key " SECRET;
	res.bodylen = strlen(res.body);
	ck_assert_int_eq(notify_util_classify(&res, SECRET, why, sizeof(why)),
	    NOTIFY_PERMANENT);
	ck_assert_ptr_null(strstr(why, SECRET));
	ck_assert_ptr_nonnull(strstr(why, "HTTP 400: invalid routing key **"));
	res.status = 429;
	ck_assert_int_eq(notify_util_classify(&res, NULL, why, sizeof(why)),
	    NOTIFY_RETRY);
	res.status = 408;
	ck_assert_int_eq(notify_util_classify(&res, NULL, why, sizeof(why)),
	    NOTIFY_RETRY);
	res.status = 503;
	ck_assert_int_eq(notify_util_classify(&res, NULL, why, sizeof(why)),
	    NOTIFY_RETRY);
	memset(&res, 0, sizeof(res));
	res.error = "Connection refused";
	ck_assert_int_eq(notify_util_classify(&res, NULL, why, sizeof(why)),
	    NOTIFY_RETRY);
	ck_assert_str_eq(why, "Connection refused");
}
END_TEST

START_TEST(test_util_send_before_start_starts_nothing)
{
	struct alert_event	*ev = event_new(ALERT_FIRING, SEV_CRITICAL,
				    "key-disabled", "disabled");
	char			 err[512];
	void			*st = NULL;

	ck_assert_msg(configure(&notify_slack_ops,
	    "type: slack\nurl: https://hooks.example/x\n", &st, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(notify_slack_ops.send(st, ev, NULL, NULL), -1);
	notify_slack_ops.free(st);
	event_free(ev);
}
END_TEST

static Suite *
notify_payloads_suite(void)
{
	Suite	*s = suite_create("notify_payloads");
	TCase	*pd = tcase_create("pagerduty");
	TCase	*am = tcase_create("alertmanager");
	TCase	*sl = tcase_create("slack");
	TCase	*cf = tcase_create("configure");
	TCase	*ut = tcase_create("util");

	tcase_add_test(pd, test_pagerduty_trigger_has_the_documented_fields);
	tcase_add_test(pd, test_pagerduty_resolve_carries_only_the_keys);
	tcase_add_test(pd, test_pagerduty_severity_maps_unknown_to_error);
	tcase_add_test(pd,
	    test_pagerduty_summary_is_cut_to_1024_without_splitting_utf8);
	suite_add_tcase(s, pd);

	tcase_add_test(am, test_alertmanager_alertname_is_camel_case_of_the_check);
	tcase_add_test(am, test_alertmanager_alert_has_the_contract_labels);
	tcase_add_test(am, test_alertmanager_resolve_sets_ends_at);
	tcase_add_test(am, test_alertmanager_empty_labels_are_left_out);
	suite_add_tcase(s, am);

	tcase_add_test(sl, test_slack_message_has_text_and_blocks);
	tcase_add_test(sl, test_slack_escapes_mrkdwn_control_characters);
	tcase_add_test(sl, test_slack_resolved_says_so);
	tcase_add_test(sl, test_slack_long_summary_fits_the_section_limit);
	suite_add_tcase(s, sl);

	tcase_add_test(cf,
	    test_config_unknown_option_names_position_and_suggestion);
	tcase_add_test(cf, test_config_missing_required_option);
	tcase_add_test(cf, test_config_wrong_types_are_errors);
	tcase_add_test(cf, test_config_alertmanager_labels_cannot_override_ours);
	tcase_add_test(cf, test_config_common_options_are_accepted);
	tcase_add_test(cf,
	    test_config_routing_key_file_readable_by_others_is_refused);
	tcase_add_test(cf,
	    test_config_credential_names_resolve_under_credentials_directory);
	tcase_add_test(cf, test_config_slack_url_never_appears_in_errors);
	tcase_add_test(cf,
	    test_config_alertmanager_relative_state_file_needs_state_directory);
	suite_add_tcase(s, cf);

	tcase_add_test(ut, test_util_classify_follows_the_retry_contract);
	tcase_add_test(ut, test_util_send_before_start_starts_nothing);
	suite_add_tcase(s, ut);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(notify_payloads_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

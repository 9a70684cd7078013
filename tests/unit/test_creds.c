/*
 * lib/creds: the provider chain's decisions, the shared-file parser, the
 * STS/IMDS/container requests and parsers, and the runner's refresh
 * timing, driven through a fake fetcher and a fake clock.  Fixtures live
 * in tests/creds/.  Every secret in the fixtures contains "DONOTLEAK" so
 * that error texts can be checked for leaks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "creds_blocking.h"

#define FIX		"tests/creds/"
#define CONFIG_ENV	"AWS_CONFIG_FILE=" FIX "config"
#define CREDS_ENV	"AWS_SHARED_CREDENTIALS_FILE=" FIX "credentials"
#define NOFILES		"AWS_CONFIG_FILE=" FIX "absent", \
			"AWS_SHARED_CREDENTIALS_FILE=" FIX "absent"

static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf;
	long	 n;

	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*lenp = (size_t)n;
	return buf;
}

static void
assert_no_leak(const char *s)
{
	ck_assert_msg(strstr(s, "DONOTLEAK") == NULL, "secret in \"%s\"", s);
}

/* ---- Time ---------------------------------------------------------- */

START_TEST(parse_time_accepts_utc_fraction_and_offset)
{
	time_t	t;

	ck_assert_int_eq(creds_parse_time("2019-11-09T13:34:41Z", &t), 0);
	ck_assert_int_eq(t, 1573306481);
	ck_assert_int_eq(creds_parse_time("2019-11-09T13:34:41.123Z", &t), 0);
	ck_assert_int_eq(t, 1573306481);
	ck_assert_int_eq(creds_parse_time("2019-11-09T15:34:41+02:00", &t), 0);
	ck_assert_int_eq(t, 1573306481);
	ck_assert_int_eq(creds_parse_time("2019-11-09T12:34:41-01:00", &t), 0);
	ck_assert_int_eq(t, 1573306481);
}
END_TEST

START_TEST(parse_time_rejects_malformed)
{
	time_t	t;

	ck_assert_int_eq(creds_parse_time("2019-11-09 13:34", &t), -1);
	ck_assert_int_eq(creds_parse_time("2019-13-09T13:34:41Z", &t), -1);
	ck_assert_int_eq(creds_parse_time("2019-11-09T13:34:41", &t), -1);
	ck_assert_int_eq(creds_parse_time("2019-11-09T13:34:41Zjunk", &t), -1);
	ck_assert_int_eq(creds_parse_time("1573306481", &t), -1);
}
END_TEST

/* ---- INI ----------------------------------------------------------- */

START_TEST(ini_parses_sections_keys_and_comments)
{
	static const char	text[] = "# c\n[a]\nk1 = v1\n; c2\n[ b ]\n"
	    "k2=v2=x\nk3 : arn:aws:x\n";
	struct creds_ini	ini;
	char			err[128];

	ck_assert_int_eq(creds_ini_parse(text, sizeof(text) - 1, &ini, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(ini.nsec, 2);
	ck_assert_str_eq(creds_ini_get(creds_ini_section(&ini, "a"), "k1"),
	    "v1");
	ck_assert_str_eq(creds_ini_get(creds_ini_section(&ini, "b"), "k2"),
	    "v2=x");
	ck_assert_str_eq(creds_ini_get(creds_ini_section(&ini, "b"), "k3"),
	    "arn:aws:x");
	creds_ini_free(&ini);
}
END_TEST

START_TEST(ini_keys_are_case_insensitive_and_later_duplicates_win)
{
	static const char	text[] = "[a]\nKey = 1\n[b]\n[a]\nkey = 2\n";
	struct creds_ini	ini;
	char			err[128];

	ck_assert_int_eq(creds_ini_parse(text, sizeof(text) - 1, &ini, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(ini.nsec, 2);
	ck_assert_str_eq(creds_ini_get(creds_ini_section(&ini, "a"), "key"),
	    "2");
	creds_ini_free(&ini);
}
END_TEST

START_TEST(ini_ignores_indented_subsection_lines)
{
	static const char	text[] = "[p]\ns3 =\n  max = 20\n  x = y\n"
	    "region = r\r\n";
	struct creds_ini	ini;
	char			err[128];

	ck_assert_int_eq(creds_ini_parse(text, sizeof(text) - 1, &ini, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(creds_ini_get(creds_ini_section(&ini, "p"), "max"));
	ck_assert_str_eq(creds_ini_get(creds_ini_section(&ini, "p"),
	    "region"), "r");
	creds_ini_free(&ini);
}
END_TEST

START_TEST(ini_reports_the_line_of_a_malformed_entry)
{
	static const char	text[] = "[a]\nok = 1\nnot a setting\n";
	struct creds_ini	ini;
	char			err[128];

	ck_assert_int_eq(creds_ini_parse(text, sizeof(text) - 1, &ini, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "line 3"));
}
END_TEST

START_TEST(ini_setting_before_any_section_is_an_error)
{
	static const char	text[] = "k = v\n";
	struct creds_ini	ini;
	char			err[128];

	ck_assert_int_eq(creds_ini_parse(text, sizeof(text) - 1, &ini, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "line 1"));
}
END_TEST

START_TEST(ini_missing_file_is_empty)
{
	struct creds_ini	ini;
	char			err[128];

	ck_assert_int_eq(creds_ini_load(FIX "absent", &ini, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(ini.nsec, 0);
}
END_TEST

/* ---- Plans --------------------------------------------------------- */

static int
resolve(const struct creds_config *cfg, const char *const *env,
    struct creds_plan *plan, char *err, size_t errlen)
{
	memset(err, 0, errlen);
	return creds_plan_resolve(cfg, env, plan, err, errlen);
}

START_TEST(config_keys_win_over_environment)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", NOFILES, NULL };
	struct creds_config	 cfg = { .access_key_id = "AKIACFG",
	    .secret_access_key = "cfgDONOTLEAK" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_STATIC);
	ck_assert_str_eq(plan.static_creds.access_key_id, "AKIACFG");
	ck_assert_ptr_nonnull(strstr(plan.desc, "config"));
	creds_plan_free(&plan);
}
END_TEST

START_TEST(config_half_keys_is_an_error)
{
	const char *const	 env[] = { NOFILES, NULL };
	struct creds_config	 cfg = { .secret_access_key = "cfgDONOTLEAK" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "aws.access_key_id"));
	assert_no_leak(err);
}
END_TEST

START_TEST(environment_keys_with_session_token)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK",
	    "AWS_SESSION_TOKEN=tokDONOTLEAK", NOFILES, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_STATIC);
	ck_assert_str_eq(plan.static_creds.access_key_id, "AKIAENV");
	ck_assert_str_eq(plan.static_creds.session_token, "tokDONOTLEAK");
	assert_no_leak(plan.desc);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(environment_half_keys_names_the_missing_variable)
{
	const char *const	 env[] = { "AWS_SECRET_ACCESS_KEY=envDONOTLEAK",
	    NOFILES, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "AWS_ACCESS_KEY_ID is not"));
	assert_no_leak(err);
}
END_TEST

START_TEST(environment_is_skipped_when_config_names_a_profile)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", CONFIG_ENV, CREDS_ENV,
	    NULL };
	struct creds_config	 cfg = { .profile = "chain-c" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.static_creds.access_key_id, "AKIACHAINC000000000");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(environment_wins_over_aws_profile)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", "AWS_PROFILE=chain-c",
	    CONFIG_ENV, CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.static_creds.access_key_id, "AKIAENV");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(web_identity_from_environment)
{
	const char *const	 env[] = {
	    "AWS_WEB_IDENTITY_TOKEN_FILE=" FIX "web-identity-token",
	    "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/web",
	    "AWS_ROLE_SESSION_NAME=pod-1", "AWS_REGION=eu-west-1", NOFILES,
	    NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_WEB_IDENTITY);
	ck_assert_str_eq(plan.role_arn, "arn:aws:iam::123456789012:role/web");
	ck_assert_str_eq(plan.session_name, "pod-1");
	ck_assert_str_eq(plan.sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(web_identity_default_session_name_is_keyhealthd)
{
	const char *const	 env[] = {
	    "AWS_WEB_IDENTITY_TOKEN_FILE=" FIX "web-identity-token",
	    "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/web", NOFILES, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.session_name, "keyhealthd");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(web_identity_token_file_without_role_arn_is_an_error)
{
	const char *const	 env[] = {
	    "AWS_WEB_IDENTITY_TOKEN_FILE=" FIX "web-identity-token", NOFILES,
	    NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "AWS_ROLE_ARN"));
}
END_TEST

START_TEST(role_arn_alone_does_not_select_web_identity)
{
	const char *const	 env[] = {
	    "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/web",
	    "AWS_EC2_METADATA_DISABLED=true", NOFILES, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no AWS credentials"));
}
END_TEST

START_TEST(default_profile_static_keys)
{
	const char *const	 env[] = { CONFIG_ENV, CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_STATIC);
	ck_assert_str_eq(plan.static_creds.access_key_id,
	    "AKIADEFAULT00000000");
	ck_assert_str_eq(plan.region, "eu-west-1");
	ck_assert_uint_eq(plan.nsteps, 0);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(aws_profile_selects_the_profile)
{
	const char *const	 env[] = { "AWS_PROFILE=base", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.static_creds.access_key_id,
	    "AKIABASE00000000000");
	ck_assert_str_eq(plan.static_creds.session_token,
	    "basetokenDONOTLEAK");
	ck_assert_str_eq(plan.region, "ca-central-1");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(home_locates_the_shared_files)
{
	/* tests/creds-home/.aws does not exist: HOME is used, nothing found,
	 * and an explicit profile must then be reported missing. */
	const char *const	 env[] = { "HOME=tests/creds-home",
	    "AWS_PROFILE=base", NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "profile \"base\" not found"));
}
END_TEST

START_TEST(explicit_missing_profile_is_an_error)
{
	const char *const	 env[] = { CONFIG_ENV, CREDS_ENV, NULL };
	struct creds_config	 cfg = { .profile = "nosuch" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "\"nosuch\" not found"));
}
END_TEST

START_TEST(missing_default_profile_falls_through_to_imds)
{
	const char *const	 env[] = { NOFILES, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_IMDS);
	ck_assert_str_eq(plan.url, "http://169.254.169.254");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(profile_without_credentials_falls_through_to_container)
{
	const char *const	 env[] = { "AWS_PROFILE=nothing", CONFIG_ENV,
	    CREDS_ENV, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/creds/x",
	    NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_CONTAINER);
	ck_assert_str_eq(plan.region, "sa-east-1");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(role_arn_with_source_profile_adds_an_assume_role_step)
{
	const char *const	 env[] = { CONFIG_ENV, CREDS_ENV, NULL };
	struct creds_config	 cfg = { .profile = "prod" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_STATIC);
	ck_assert_str_eq(plan.static_creds.access_key_id,
	    "AKIABASE00000000000");
	ck_assert_uint_eq(plan.nsteps, 1);
	ck_assert_str_eq(plan.steps[0].role_arn,
	    "arn:aws:iam::111122223333:role/keyhealthd-ro");
	ck_assert_str_eq(plan.steps[0].session_name, "keyhealthd");
	ck_assert_str_eq(plan.steps[0].external_id, "ext-123");
	/* The profile asked for wins the region. */
	ck_assert_str_eq(plan.region, "us-west-2");
	ck_assert_str_eq(plan.sts_endpoint, "https://sts.us-west-2.amazonaws.com");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(source_profile_chain_assumes_innermost_role_first)
{
	const char *const	 env[] = { "AWS_PROFILE=chain-a", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.static_creds.access_key_id,
	    "AKIACHAINC000000000");
	ck_assert_uint_eq(plan.nsteps, 2);
	ck_assert_str_eq(plan.steps[0].role_arn,
	    "arn:aws:iam::222222222222:role/b");
	ck_assert_str_eq(plan.steps[0].session_name, "session-b");
	ck_assert_str_eq(plan.steps[1].role_arn,
	    "arn:aws:iam::111111111111:role/a");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(source_profile_loop_is_detected_and_named)
{
	const char *const	 env[] = { "AWS_PROFILE=loop-a", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "loop-a -> loop-b -> loop-a"));
}
END_TEST

START_TEST(profile_may_be_its_own_source_through_its_keys)
{
	const char *const	 env[] = { "AWS_PROFILE=self", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.static_creds.access_key_id,
	    "AKIASELF00000000000");
	ck_assert_uint_eq(plan.nsteps, 1);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(credential_process_profile)
{
	const char *const	 env[] = { "AWS_PROFILE=proc", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_PROCESS);
	ck_assert_str_eq(plan.command, "/usr/bin/printf '{\"Version\": 1}'");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(web_identity_profile)
{
	const char *const	 env[] = { "AWS_PROFILE=webid", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_WEB_IDENTITY);
	ck_assert_str_eq(plan.token_file, "/var/run/token");
	ck_assert_str_eq(plan.session_name, "web-session");
	ck_assert_uint_eq(plan.nsteps, 0);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(credential_source_ecs_container_then_assume_role)
{
	const char *const	 env[] = { "AWS_PROFILE=ecs", CONFIG_ENV,
	    CREDS_ENV, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/c", NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_CONTAINER);
	ck_assert_uint_eq(plan.nsteps, 1);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(credential_source_ecs_without_container_env_is_an_error)
{
	const char *const	 env[] = { "AWS_PROFILE=ecs", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "EcsContainer"));
}
END_TEST

START_TEST(role_arn_without_a_source_is_an_error)
{
	const char *const	 env[] = { "AWS_PROFILE=noroute", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "source_profile"));
}
END_TEST

START_TEST(source_profile_and_credential_source_together_is_an_error)
{
	const char *const	 env[] = { "AWS_PROFILE=both", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "both"));
}
END_TEST

START_TEST(partial_profile_keys_is_an_error_without_the_secret)
{
	const char *const	 env[] = { "AWS_PROFILE=partial", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "aws_secret_access_key"));
	assert_no_leak(err);
}
END_TEST

START_TEST(container_relative_uri_uses_the_agent_address)
{
	const char *const	 env[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/abc",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN=containerauthDONOTLEAK", NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_int_eq(plan.source, CREDS_SRC_CONTAINER);
	ck_assert_str_eq(plan.url, "http://169.254.170.2/v2/credentials/abc");
	ck_assert_str_eq(plan.auth_token, "containerauthDONOTLEAK");
	assert_no_leak(plan.desc);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(container_full_uri_over_http_must_be_loopback)
{
	const char *const	 bad[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://10.0.0.1/creds", NULL };
	const char *const	 good[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8080/creds",
	    NULL };
	const char *const	 eks[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/c",
	    NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, bad, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "loopback"));
	ck_assert_int_eq(resolve(NULL, good, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.url, "http://127.0.0.1:8080/creds");
	creds_plan_free(&plan);
	ck_assert_int_eq(resolve(NULL, eks, &plan, err, sizeof(err)), 0);
	creds_plan_free(&plan);
}
END_TEST

START_TEST(container_token_file_wins_over_token)
{
	const char *const	 env[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/c",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN=other",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" FIX "container-token",
	    NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), 0);
	ck_assert_ptr_null(plan.auth_token);
	ck_assert_str_eq(plan.auth_token_file, FIX "container-token");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(imds_endpoint_override_and_ipv6_mode)
{
	const char *const	 ov[] = { NOFILES,
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338/", NULL };
	const char *const	 v6[] = { NOFILES,
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6", NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, ov, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.url, "http://127.0.0.1:1338");
	creds_plan_free(&plan);
	ck_assert_int_eq(resolve(NULL, v6, &plan, err, sizeof(err)), 0);
	ck_assert_str_eq(plan.url, "http://[fd00:ec2::254]");
	creds_plan_free(&plan);
}
END_TEST

START_TEST(imds_disabled_and_nothing_else_is_an_error)
{
	const char *const	 env[] = { NOFILES,
	    "AWS_EC2_METADATA_DISABLED=TRUE", NULL };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(NULL, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no AWS credentials"));
}
END_TEST

START_TEST(config_assume_role_goes_on_top_with_session_keyhealthd)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", NOFILES, NULL };
	struct creds_config	 cfg = { .assume_role =
	    "arn:aws:iam::111122223333:role/keyhealthd-ro",
	    .region = "cn-north-1" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), 0);
	ck_assert_uint_eq(plan.nsteps, 1);
	ck_assert_str_eq(plan.steps[0].session_name, "keyhealthd");
	ck_assert_str_eq(plan.sts_endpoint,
	    "https://sts.cn-north-1.amazonaws.com.cn");
	ck_assert_ptr_nonnull(strstr(plan.desc, "then AssumeRole"));
	creds_plan_free(&plan);
}
END_TEST

START_TEST(config_assume_role_must_be_a_role_arn)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", NOFILES, NULL };
	struct creds_config	 cfg = { .assume_role = "keyhealthd-ro" };
	struct creds_plan	 plan;
	char			 err[256];

	ck_assert_int_eq(resolve(&cfg, env, &plan, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not an IAM role ARN"));
}
END_TEST

START_TEST(sts_endpoint_overrides_in_order)
{
	const char *const	 env[] = {
	    "AWS_ENDPOINT_URL=http://127.0.0.1:1",
	    "AWS_ENDPOINT_URL_STS=http://127.0.0.1:2", NULL };
	const char *const	 env2[] = {
	    "AWS_ENDPOINT_URL=http://127.0.0.1:1", NULL };
	char			 url[256], err[128];

	ck_assert_int_eq(creds_sts_endpoint("http://127.0.0.1:3", 0, "eu-west-1",
	    env, url, sizeof(url), err, sizeof(err)), 0);
	ck_assert_str_eq(url, "http://127.0.0.1:3");
	ck_assert_int_eq(creds_sts_endpoint(NULL, 0, "eu-west-1", env, url,
	    sizeof(url), err, sizeof(err)), 0);
	ck_assert_str_eq(url, "http://127.0.0.1:2");
	ck_assert_int_eq(creds_sts_endpoint(NULL, 0, "eu-west-1", env2, url,
	    sizeof(url), err, sizeof(err)), 0);
	ck_assert_str_eq(url, "http://127.0.0.1:1");
	ck_assert_int_eq(creds_sts_endpoint(NULL, 0, "us-gov-west-1", NULL, url,
	    sizeof(url), err, sizeof(err)), 0);
	ck_assert_str_eq(url, "https://sts.us-gov-west-1.amazonaws.com");
}
END_TEST

/* The environment's STS override follows the rules of
 * aws.sts_endpoint_url (lib/endpoint): plain http only to loopback. */
START_TEST(sts_endpoint_from_env_needs_allow_http_off_loopback)
{
	const char *const	 env[] = {
	    "AWS_ENDPOINT_URL_STS=http://sts.internal:8080/", NULL };
	char			 url[256], err[256];

	ck_assert_int_eq(creds_sts_endpoint(NULL, 0, "eu-west-1", env, url,
	    sizeof(url), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not loopback"));
	ck_assert_int_eq(creds_sts_endpoint(NULL, 1, "eu-west-1", env, url,
	    sizeof(url), err, sizeof(err)), 0);
	ck_assert_str_eq(url, "http://sts.internal:8080");
}
END_TEST

/* ---- Requests ------------------------------------------------------ */

static const char *
req_header_value(const struct creds_http_req *r, const char *name)
{
	size_t	i, n = strlen(name);

	for (i = 0; i < r->nheaders; i++)
		if (strncasecmp(r->headers[i], name, n) == 0 &&
		    r->headers[i][n] == ':')
			return r->headers[i] + n + 2;
	return NULL;
}

START_TEST(assume_role_request_is_a_signed_form_post)
{
	char			 arn[] = "arn:aws:iam::1:role/r";
	char			 sess[] = "keyhealthd", ext[] = "ext id";
	char			 via[] = "config", ak[] = "AKIASRC";
	char			 sk[] = "srcDONOTLEAK", tok[] = "srctokDONOTLEAK";
	struct creds_role_step	 step = { arn, sess, ext, via };
	struct creds		 src = { ak, sk, tok, 0 };
	struct creds_http_req	 r;
	char			 err[256];
	const char		*auth;

	ck_assert_int_eq(creds_sts_assume_role_request(
	    "https://sts.eu-west-1.amazonaws.com", "eu-west-1", &step, &src,
	    1440938160, &r, err, sizeof(err)), 0);
	ck_assert_str_eq(r.method, "POST");
	ck_assert_str_eq(r.url, "https://sts.eu-west-1.amazonaws.com");
	ck_assert_str_eq(r.body, "Action=AssumeRole&Version=2011-06-15&"
	    "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&"
	    "RoleSessionName=keyhealthd&ExternalId=ext%20id");
	ck_assert_uint_eq(r.bodylen, strlen(r.body));
	ck_assert_str_eq(req_header_value(&r, "X-Amz-Date"),
	    "20150830T123600Z");
	ck_assert_str_eq(req_header_value(&r, "X-Amz-Security-Token"),
	    "srctokDONOTLEAK");
	auth = req_header_value(&r, "Authorization");
	ck_assert_ptr_nonnull(auth);
	ck_assert_ptr_nonnull(strstr(auth, "Credential=AKIASRC/20150830/"
	    "eu-west-1/sts/aws4_request, SignedHeaders=content-type;host;"
	    "x-amz-date;x-amz-security-token, Signature="));
	ck_assert_int_eq(r.secret_body, 0);
	creds_http_req_free(&r);
}
END_TEST

START_TEST(web_identity_request_is_unsigned_and_marks_its_body_secret)
{
	struct creds_http_req	r;
	char			err[256];

	ck_assert_int_eq(creds_sts_web_identity_request("http://127.0.0.1:9",
	    "arn:aws:iam::1:role/w", "s", "tok.DONOTLEAK", &r, err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(r.body,
	    "Action=AssumeRoleWithWebIdentity&"));
	ck_assert_ptr_nonnull(strstr(r.body, "&WebIdentityToken="
	    "tok.DONOTLEAK"));
	ck_assert_ptr_null(req_header_value(&r, "Authorization"));
	ck_assert_int_eq(r.secret_body, 1);
	creds_http_req_free(&r);
}
END_TEST

START_TEST(imds_requests_put_a_token_then_get_with_it)
{
	struct creds_http_req	r;
	char			err[256];

	ck_assert_int_eq(creds_imds_token_request("http://169.254.169.254", &r,
	    err, sizeof(err)), 0);
	ck_assert_str_eq(r.method, "PUT");
	ck_assert_str_eq(r.url, "http://169.254.169.254/latest/api/token");
	ck_assert_str_eq(req_header_value(&r,
	    "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
	creds_http_req_free(&r);
	ck_assert_int_eq(creds_imds_creds_request("http://169.254.169.254",
	    "T0K", "my-role", &r, err, sizeof(err)), 0);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.url, "http://169.254.169.254/latest/meta-data/iam/"
	    "security-credentials/my-role");
	ck_assert_str_eq(req_header_value(&r, "X-aws-ec2-metadata-token"),
	    "T0K");
	creds_http_req_free(&r);
	ck_assert_int_eq(creds_imds_creds_request("http://169.254.169.254",
	    "T0K", "../x", &r, err, sizeof(err)), -1);
}
END_TEST

START_TEST(container_request_sends_the_authorization_token)
{
	struct creds_http_req	r;
	char			err[256];

	ck_assert_int_eq(creds_container_request("http://169.254.170.2/v2/c",
	    "Bearer abc", &r, err, sizeof(err)), 0);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(req_header_value(&r, "Authorization"), "Bearer abc");
	creds_http_req_free(&r);
	ck_assert_int_eq(creds_container_request("http://169.254.170.2/v2/c",
	    "abc\r\nX-Evil: 1", &r, err, sizeof(err)), -1);
}
END_TEST

/* ---- Parsers ------------------------------------------------------- */

START_TEST(sts_parse_assume_role_result)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "sts-assume-role.xml", &len);
	ck_assert_int_eq(creds_sts_parse(200, body, len, &c, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
	ck_assert_str_eq(c.secret_access_key,
	    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	ck_assert_uint_gt(strlen(c.session_token), 100);
	ck_assert_int_eq(c.expiration, 1573306481);
	creds_clear(&c);
	free(body);
}
END_TEST

START_TEST(sts_parse_web_identity_result_decodes_entities)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "sts-web-identity.xml", &len);
	ck_assert_int_eq(creds_sts_parse(200, body, len, &c, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
	ck_assert_str_eq(c.secret_access_key,
	    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY&x");
	ck_assert_int_eq(c.expiration, 1414191623);
	creds_clear(&c);
	free(body);
}
END_TEST

START_TEST(sts_parse_error_response_gives_code_and_message)
{
	struct creds	 c;
	char		 err[512], *body;
	size_t		 len;

	body = slurp(FIX "sts-error.xml", &len);
	ck_assert_int_eq(creds_sts_parse(403, body, len, &c, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "AccessDenied: User: "));
	ck_assert_ptr_nonnull(strstr(err, "HTTP 403"));
	free(body);
}
END_TEST

START_TEST(sts_parse_rejects_unrecognised_and_incomplete_answers)
{
	static const char	html[] = "<html>Bad Gateway</html>";
	static const char	noexp[] = "<Credentials><AccessKeyId>AKIA1"
	    "</AccessKeyId><SecretAccessKey>sDONOTLEAK</SecretAccessKey>"
	    "</Credentials>";
	struct creds		c;
	char			err[256];

	ck_assert_int_eq(creds_sts_parse(502, html, sizeof(html) - 1, &c, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 502"));
	ck_assert_int_eq(creds_sts_parse(200, noexp, sizeof(noexp) - 1, &c,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "Expiration"));
	assert_no_leak(err);
}
END_TEST

START_TEST(json_parse_imds_credentials)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "imds-creds.json", &len);
	ck_assert_int_eq(creds_json_parse(200, body, len, &c, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.access_key_id, "ASIAIMDS0000EXAMPLE");
	ck_assert_str_eq(c.session_token, "imdstokenDONOTLEAK");
	ck_assert_int_eq(c.expiration, 1495033794);
	creds_clear(&c);
	free(body);
}
END_TEST

START_TEST(json_parse_imds_failure_code_is_reported)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "imds-error.json", &len);
	ck_assert_int_eq(creds_json_parse(200, body, len, &c, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "AssumeRoleUnauthorizedAccess"));
	free(body);
}
END_TEST

START_TEST(json_parse_container_credentials_with_offset_expiration)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "container.json", &len);
	ck_assert_int_eq(creds_json_parse(200, body, len, &c, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.access_key_id, "ASIACONTAINEREXAMPLE");
	ck_assert_int_eq(c.expiration, 1631806168);
	creds_clear(&c);
	free(body);
}
END_TEST

START_TEST(json_parse_error_status_and_garbage)
{
	static const char	e[] = "{\"code\": \"Denied\", \"message\": "
	    "\"token rejected\"}";
	static const char	g[] = "not json";
	struct creds		c;
	char			err[256];

	ck_assert_int_eq(creds_json_parse(401, e, sizeof(e) - 1, &c, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "HTTP 401: token rejected");
	ck_assert_int_eq(creds_json_parse(200, g, sizeof(g) - 1, &c, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a JSON object"));
}
END_TEST

START_TEST(process_parse_version_1)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "process.json", &len);
	ck_assert_int_eq(creds_process_parse(body, len, &c, err, sizeof(err)),
	    0);
	ck_assert_str_eq(c.access_key_id, "ASIAPROCESSEXAMPLE");
	ck_assert_str_eq(c.session_token, "processtokenDONOTLEAK");
	ck_assert_int_eq(c.expiration, 1893456000);
	creds_clear(&c);
	free(body);
}
END_TEST

START_TEST(process_parse_rejects_other_versions_without_leaking)
{
	struct creds	 c;
	char		 err[256], *body;
	size_t		 len;

	body = slurp(FIX "process-v2.json", &len);
	ck_assert_int_eq(creds_process_parse(body, len, &c, err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "Version must be 1"));
	assert_no_leak(err);
	free(body);
}
END_TEST

START_TEST(process_parse_without_expiration_never_expires)
{
	static const char	t[] = "{\"Version\": 1, \"AccessKeyId\": "
	    "\"AKIA1\", \"SecretAccessKey\": \"s\"}";
	struct creds		c;
	char			err[256];

	ck_assert_int_eq(creds_process_parse(t, sizeof(t) - 1, &c, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(c.expiration, 0);
	ck_assert_ptr_null(c.session_token);
	creds_clear(&c);
}
END_TEST

START_TEST(imds_parse_role_takes_the_first_line)
{
	static const char	t[] = "keyhealthd-role\nother\n";
	char			role[64], err[128];

	ck_assert_int_eq(creds_imds_parse_role(200, t, sizeof(t) - 1, role,
	    sizeof(role), err, sizeof(err)), 0);
	ck_assert_str_eq(role, "keyhealthd-role");
	ck_assert_int_eq(creds_imds_parse_role(404, "", 0, role, sizeof(role),
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no IAM role"));
}
END_TEST

/* ---- The runner, with a fake fetcher and clock ---------------------- */

#define FAKE_MAX	16

struct fake {
	int			 async;
	/* scripted answers, in order */
	long			 status[FAKE_MAX];
	const char		*body[FAKE_MAX];
	size_t			 nans, next;
	/* what was asked */
	char			*method[FAKE_MAX];
	char			*url[FAKE_MAX];
	char			*hdrs[FAKE_MAX];
	char			*reqbody[FAKE_MAX];
	size_t			 nreq;
	/* pending (async) */
	creds_fetch_done	 done;
	void			*cbarg;
	int			 cancelled;
};

static struct fake	fk;
static time_t		fake_now;

static time_t
fake_clock(void)
{
	return fake_now;
}

static void
fake_answer(struct fake *f)
{
	struct creds_fetch_result	r;
	creds_fetch_done		done = f->done;

	ck_assert_uint_lt(f->next, f->nans);
	memset(&r, 0, sizeof(r));
	r.status = f->status[f->next];
	r.body = f->body[f->next] != NULL ? f->body[f->next] : "";
	r.bodylen = strlen(r.body);
	r.error = r.status < 0 ? "Connection refused" : NULL;
	f->next++;
	f->done = NULL;
	done(f->cbarg, &r);
}

static int
fake_fetch(void *ctx, const struct creds_http_req *req, creds_fetch_done done,
    void *cbarg)
{
	struct fake	*f = ctx;
	char		 h[4096] = "";
	size_t		 i, l;

	ck_assert_uint_lt(f->nreq, FAKE_MAX);
	f->method[f->nreq] = strdup(req->method);
	f->url[f->nreq] = strdup(req->url);
	for (i = 0; i < req->nheaders; i++) {
		l = strlen(h);
		snprintf(h + l, sizeof(h) - l, "%s\n", req->headers[i]);
	}
	f->hdrs[f->nreq] = strdup(h);
	f->reqbody[f->nreq] = req->body != NULL ? strdup(req->body) : NULL;
	f->nreq++;
	f->done = done;
	f->cbarg = cbarg;
	if (!f->async)
		fake_answer(f);
	return 0;
}

static int
fake_exec(void *ctx, const char *command, creds_fetch_done done, void *cbarg)
{
	struct fake	*f = ctx;

	f->method[f->nreq] = strdup("EXEC");
	f->url[f->nreq] = strdup(command);
	f->hdrs[f->nreq] = strdup("");
	f->reqbody[f->nreq] = NULL;
	f->nreq++;
	f->done = done;
	f->cbarg = cbarg;
	if (!f->async)
		fake_answer(f);
	return 0;
}

static void
fake_cancel(void *ctx, void *cbarg)
{
	struct fake	*f = ctx;

	if (f->cbarg == cbarg) {
		f->done = NULL;
		f->cancelled = 1;
	}
}

static void
fake_script(long status, const char *body)
{
	fk.status[fk.nans] = status;
	fk.body[fk.nans] = body;
	fk.nans++;
}

static void
fake_setup(void)
{
	memset(&fk, 0, sizeof(fk));
	fake_now = 1573300000;		/* 2019-11-09T11:46:40Z */
}

static void
fake_teardown(void)
{
	size_t	i;

	for (i = 0; i < fk.nreq; i++) {
		free(fk.method[i]);
		free(fk.url[i]);
		free(fk.hdrs[i]);
		free(fk.reqbody[i]);
	}
}

static struct creds_provider *
provider_for(const struct creds_config *cfg, const char *const *env)
{
	struct creds_fetcher	 f = { fake_fetch, fake_exec, fake_cancel,
	    &fk };
	struct creds_plan	 plan;
	struct creds_provider	*p;
	char			 err[256];

	ck_assert_msg(creds_plan_resolve(cfg, env, &plan, err,
	    sizeof(err)) == 0, "%s", err);
	p = creds_provider_new(&plan, &f, fake_clock);
	ck_assert_ptr_nonnull(p);
	return p;
}

static const char *const imds_env[] = { NOFILES,
    "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9", NULL };

/* Credentials JSON expiring at exp. */
static char *
creds_json(const char *akid, time_t exp)
{
	static char	buf[4][512];
	static int	n;
	char		ts[32];
	struct tm	tm;

	gmtime_r(&exp, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "{\"Code\": \"Success\", "
	    "\"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"sDONOTLEAK\", "
	    "\"Token\": \"tDONOTLEAK\", \"Expiration\": \"%s\"}", akid, ts);
	return buf[n];
}

START_TEST(static_credentials_need_no_fetch_and_never_refresh)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", NOFILES, NULL };
	struct creds_provider	*p = provider_for(NULL, env);
	const struct creds	*c;
	char			 err[256];

	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "AKIAENV");
	fake_now += 10 * 365 * 86400;
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(fk.nreq, 0);
	ck_assert_int_eq(creds_provider_refresh_at(p), 0);
	creds_provider_free(p);
}
END_TEST

START_TEST(imds_runs_token_role_and_credentials_requests)
{
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256];

	fake_script(200, "TOKEN123");
	fake_script(200, "keyhealthd-role\n");
	fake_script(200, creds_json("ASIAIMDS1", fake_now + 6 * 3600));
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASIAIMDS1");
	ck_assert_uint_eq(fk.nreq, 3);
	ck_assert_str_eq(fk.method[0], "PUT");
	ck_assert_str_eq(fk.url[0], "http://127.0.0.1:9/latest/api/token");
	ck_assert_str_eq(fk.url[1], "http://127.0.0.1:9/latest/meta-data/iam/"
	    "security-credentials/");
	ck_assert_ptr_nonnull(strstr(fk.hdrs[1], "X-aws-ec2-metadata-token: "
	    "TOKEN123\n"));
	ck_assert_str_eq(fk.url[2], "http://127.0.0.1:9/latest/meta-data/iam/"
	    "security-credentials/keyhealthd-role");
	creds_provider_free(p);
}
END_TEST

START_TEST(refresh_starts_five_minutes_before_expiry)
{
	struct creds_provider	*p;
	const struct creds	*c;
	time_t			 exp = fake_now + 3600;
	char			 err[256];

	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIAOLD", exp));
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(creds_provider_refresh_at(p), exp - 300);
	fake_now = exp - 301;
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(fk.nreq, 3);
	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIANEW", exp + 3600));
	fake_now = exp - 299;
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(fk.nreq, 6);
	ck_assert_str_eq(c->access_key_id, "ASIANEW");
	creds_provider_free(p);
}
END_TEST

START_TEST(short_lived_credentials_refresh_at_half_life)
{
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256];

	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIASHORT", fake_now + 120));
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(creds_provider_refresh_at(p), fake_now + 60);
	creds_provider_free(p);
}
END_TEST

static int		 cb_calls;
static char		 cb_akid[64];
static char		 cb_err[600];

static void
record_cb(void *arg, const struct creds *c, const char *err)
{
	(void)arg;
	cb_calls++;
	snprintf(cb_akid, sizeof(cb_akid), "%s", c != NULL ?
	    c->access_key_id : "");
	snprintf(cb_err, sizeof(cb_err), "%s", err != NULL ? err : "");
}

START_TEST(old_credentials_are_used_until_new_ones_arrive)
{
	struct creds_provider	*p;
	const struct creds	*c;
	time_t			 exp = fake_now + 3600;
	char			 err[256];

	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIAOLD", exp));
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	fk.async = 1;
	fake_now = exp - 200;
	/* Refresh due: the fetch starts, the old keys are still handed out. */
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASIAOLD");
	ck_assert_uint_eq(fk.nreq, 4);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASIAOLD");
	ck_assert_uint_eq(fk.nreq, 4);
	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIANEW", exp + 3600));
	fake_answer(&fk);
	fake_answer(&fk);
	fake_answer(&fk);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASIANEW");
	creds_provider_free(p);
}
END_TEST

START_TEST(first_fetch_is_asynchronous_and_calls_back_once)
{
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256];

	fk.async = 1;
	cb_calls = 0;
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, record_cb, NULL, err,
	    sizeof(err)), 1);
	ck_assert_int_eq(creds_provider_get(p, &c, record_cb, NULL, err,
	    sizeof(err)), 1);
	ck_assert_uint_eq(fk.nreq, 1);
	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIAASYNC", fake_now + 3600));
	fake_answer(&fk);
	fake_answer(&fk);
	ck_assert_int_eq(cb_calls, 0);
	fake_answer(&fk);
	ck_assert_int_eq(cb_calls, 2);
	ck_assert_str_eq(cb_akid, "ASIAASYNC");
	creds_provider_free(p);
}
END_TEST

START_TEST(failure_is_reported_with_its_reason_and_backed_off)
{
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[600];

	fake_script(-1, NULL);
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "EC2 instance metadata"));
	ck_assert_ptr_nonnull(strstr(err, "Connection refused"));
	ck_assert_str_eq(creds_provider_last_error(p), err);
	/* Within the backoff: no new attempt. */
	fake_now += 2;
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_uint_eq(fk.nreq, 1);
	fake_now += 10;
	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIAOK", fake_now + 3600));
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(creds_provider_last_error(p), "");
	creds_provider_free(p);
}
END_TEST

START_TEST(failed_refresh_keeps_the_old_credentials)
{
	struct creds_provider	*p;
	const struct creds	*c;
	time_t			 exp = fake_now + 3600;
	char			 err[256];

	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIAOLD", exp));
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	fake_now = exp - 100;
	fake_script(500, "oops");
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASIAOLD");
	ck_assert_ptr_nonnull(strstr(creds_provider_last_error(p),
	    "HTTP 500"));
	/* Once expired, the failure shows. */
	fake_now = exp;
	fake_script(500, "oops");
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 500"));
	creds_provider_free(p);
}
END_TEST

START_TEST(assume_role_on_top_signs_with_the_source_credentials)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", NOFILES,
	    "AWS_ENDPOINT_URL_STS=http://127.0.0.1:4566", NULL };
	struct creds_config	 cfg = { .assume_role =
	    "arn:aws:iam::111122223333:role/keyhealthd-ro",
	    .region = "eu-west-1" };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256], *xml;
	size_t			 len;

	xml = slurp(FIX "sts-assume-role.xml", &len);
	/* The fixture's credentials expired in 2019: move the clock back. */
	fake_now = 1573306481 - 3600;
	fake_script(200, xml);
	p = provider_for(&cfg, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASIAIOSFODNN7EXAMPLE");
	ck_assert_uint_eq(fk.nreq, 1);
	ck_assert_str_eq(fk.url[0], "http://127.0.0.1:4566");
	ck_assert_ptr_nonnull(strstr(fk.hdrs[0], "Credential=AKIAENV/"));
	ck_assert_ptr_nonnull(strstr(fk.reqbody[0],
	    "RoleSessionName=keyhealthd"));
	ck_assert_str_eq(creds_provider_describe(p), "environment "
	    "(AWS_ACCESS_KEY_ID), then AssumeRole "
	    "arn:aws:iam::111122223333:role/keyhealthd-ro");
	creds_provider_free(p);
	free(xml);
}
END_TEST

START_TEST(sts_error_is_reported_with_role_and_code)
{
	const char *const	 env[] = { "AWS_ACCESS_KEY_ID=AKIAENV",
	    "AWS_SECRET_ACCESS_KEY=envDONOTLEAK", NOFILES, NULL };
	struct creds_config	 cfg = { .assume_role =
	    "arn:aws:iam::111122223333:role/keyhealthd-ro" };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[600], *xml;
	size_t			 len;

	xml = slurp(FIX "sts-error.xml", &len);
	fake_script(403, xml);
	p = provider_for(&cfg, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "AssumeRole arn:aws:iam::"
	    "111122223333:role/keyhealthd-ro: STS: AccessDenied"));
	assert_no_leak(err);
	creds_provider_free(p);
	free(xml);
}
END_TEST

START_TEST(web_identity_reads_the_token_file_at_fetch_time)
{
	const char *const	 env[] = {
	    "AWS_WEB_IDENTITY_TOKEN_FILE=" FIX "web-identity-token",
	    "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/web",
	    "AWS_ENDPOINT_URL=http://127.0.0.1:4566", NOFILES, NULL };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256], *xml;
	size_t			 len;

	xml = slurp(FIX "sts-web-identity.xml", &len);
	fake_now = 1414191623 - 3600;
	fake_script(200, xml);
	p = provider_for(NULL, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c->access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
	ck_assert_ptr_nonnull(strstr(fk.reqbody[0],
	    "WebIdentityToken=webidentitytokenDONOTLEAK"));
	ck_assert_ptr_null(strstr(fk.reqbody[0], "%0A"));
	creds_provider_free(p);
	free(xml);
}
END_TEST

START_TEST(web_identity_missing_token_file_names_the_file)
{
	const char *const	 env[] = {
	    "AWS_WEB_IDENTITY_TOKEN_FILE=" FIX "absent-token",
	    "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/web", NOFILES, NULL };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[600];

	p = provider_for(NULL, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "absent-token does not exist"));
	ck_assert_uint_eq(fk.nreq, 0);
	creds_provider_free(p);
}
END_TEST

START_TEST(container_sends_the_token_from_its_file)
{
	const char *const	 env[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/creds",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" FIX "container-token",
	    NULL };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256];

	fake_script(200, creds_json("ASIACONT", fake_now + 3600));
	p = provider_for(NULL, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(fk.url[0], "http://127.0.0.1:9/creds");
	ck_assert_ptr_nonnull(strstr(fk.hdrs[0],
	    "Authorization: containerauthDONOTLEAK\n"));
	creds_provider_free(p);
}
END_TEST

START_TEST(container_error_never_shows_the_token)
{
	const char *const	 env[] = { NOFILES,
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/c",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN=containerauthDONOTLEAK", NULL };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[600];

	fake_script(403, "{\"message\": \"bad token\"}");
	p = provider_for(NULL, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "HTTP 403: bad token"));
	assert_no_leak(err);
	creds_provider_free(p);
}
END_TEST

START_TEST(credential_process_output_is_parsed)
{
	const char *const	 env[] = { "AWS_PROFILE=proc", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256], *out;
	size_t			 len;

	out = slurp(FIX "process.json", &len);
	fake_script(0, out);
	p = provider_for(NULL, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(fk.method[0], "EXEC");
	ck_assert_str_eq(c->access_key_id, "ASIAPROCESSEXAMPLE");
	creds_provider_free(p);
	free(out);
}
END_TEST

START_TEST(credential_process_exit_status_is_reported)
{
	const char *const	 env[] = { "AWS_PROFILE=proc", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[600];

	fake_script(3, "");
	p = provider_for(NULL, env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "exited with status 3"));
	ck_assert_ptr_nonnull(strstr(err, "profile proc"));
	creds_provider_free(p);
}
END_TEST

START_TEST(sigv4_hook_reports_fetch_in_progress)
{
	struct creds_provider	*p;
	struct sigv4_creds	 sc;
	char			 err[256];

	fk.async = 1;
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_sigv4(p, &sc, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "still being fetched"));
	fake_script(200, "T");
	fake_script(200, "r");
	fake_script(200, creds_json("ASIAHOOK", fake_now + 3600));
	fake_answer(&fk);
	fake_answer(&fk);
	fake_answer(&fk);
	ck_assert_int_eq(creds_provider_sigv4(p, &sc, err, sizeof(err)), 0);
	ck_assert_str_eq(sc.access_key, "ASIAHOOK");
	ck_assert_str_eq(sc.session_token, "tDONOTLEAK");
	creds_provider_free(p);
}
END_TEST

START_TEST(free_cancels_a_fetch_in_flight)
{
	struct creds_provider	*p;
	const struct creds	*c;
	char			 err[256];

	fk.async = 1;
	p = provider_for(NULL, imds_env);
	ck_assert_int_eq(creds_provider_get(p, &c, NULL, NULL, err,
	    sizeof(err)), 1);
	creds_provider_free(p);
	ck_assert_int_eq(fk.cancelled, 1);
}
END_TEST

START_TEST(blocking_resolve_runs_credential_process)
{
	const char *const	 env[] = { "AWS_PROFILE=proc", CONFIG_ENV,
	    CREDS_ENV, NULL };
	struct creds		 c;
	char			 err[600], desc[200];

	/* The fixture's process prints only {"Version": 1}: the real
	 * process runs and its output is rejected for missing keys. */
	ck_assert_int_eq(creds_blocking_resolve(NULL, env, 5000, &c, desc,
	    sizeof(desc), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "without AccessKeyId"));
	ck_assert_str_eq(desc, "profile proc (credential_process)");
}
END_TEST

START_TEST(blocking_credential_process_is_killed_at_the_timeout)
{
	char			 path[] = "/tmp/test_creds_XXXXXX", env0[64];
	const char *const	 env[] = { env0, "AWS_SHARED_CREDENTIALS_FILE="
	    FIX "absent", NULL };
	static const char	 text[] = "[default]\n"
	    "credential_process = sleep 10\n";
	struct creds		 c;
	struct timespec		 t0, t1;
	char			 err[600];
	int			 fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1),
	    (ssize_t)sizeof(text) - 1);
	close(fd);
	snprintf(env0, sizeof(env0), "AWS_CONFIG_FILE=%s", path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(creds_blocking_resolve(NULL, env, 300, &c, NULL, 0,
	    err, sizeof(err)), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unlink(path);
	ck_assert_ptr_nonnull(strstr(err, "timed out"));
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
}
END_TEST

static Suite *
creds_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("creds");

	tc = tcase_create("time-ini");
	tcase_add_test(tc, parse_time_accepts_utc_fraction_and_offset);
	tcase_add_test(tc, parse_time_rejects_malformed);
	tcase_add_test(tc, ini_parses_sections_keys_and_comments);
	tcase_add_test(tc, ini_keys_are_case_insensitive_and_later_duplicates_win);
	tcase_add_test(tc, ini_ignores_indented_subsection_lines);
	tcase_add_test(tc, ini_reports_the_line_of_a_malformed_entry);
	tcase_add_test(tc, ini_setting_before_any_section_is_an_error);
	tcase_add_test(tc, ini_missing_file_is_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("plan");
	tcase_add_test(tc, config_keys_win_over_environment);
	tcase_add_test(tc, config_half_keys_is_an_error);
	tcase_add_test(tc, environment_keys_with_session_token);
	tcase_add_test(tc, environment_half_keys_names_the_missing_variable);
	tcase_add_test(tc, environment_is_skipped_when_config_names_a_profile);
	tcase_add_test(tc, environment_wins_over_aws_profile);
	tcase_add_test(tc, web_identity_from_environment);
	tcase_add_test(tc, web_identity_default_session_name_is_keyhealthd);
	tcase_add_test(tc, web_identity_token_file_without_role_arn_is_an_error);
	tcase_add_test(tc, role_arn_alone_does_not_select_web_identity);
	tcase_add_test(tc, default_profile_static_keys);
	tcase_add_test(tc, aws_profile_selects_the_profile);
	tcase_add_test(tc, home_locates_the_shared_files);
	tcase_add_test(tc, explicit_missing_profile_is_an_error);
	tcase_add_test(tc, missing_default_profile_falls_through_to_imds);
	tcase_add_test(tc, profile_without_credentials_falls_through_to_container);
	tcase_add_test(tc, role_arn_with_source_profile_adds_an_assume_role_step);
	tcase_add_test(tc, source_profile_chain_assumes_innermost_role_first);
	tcase_add_test(tc, source_profile_loop_is_detected_and_named);
	tcase_add_test(tc, profile_may_be_its_own_source_through_its_keys);
	tcase_add_test(tc, credential_process_profile);
	tcase_add_test(tc, web_identity_profile);
	tcase_add_test(tc, credential_source_ecs_container_then_assume_role);
	tcase_add_test(tc, credential_source_ecs_without_container_env_is_an_error);
	tcase_add_test(tc, role_arn_without_a_source_is_an_error);
	tcase_add_test(tc, source_profile_and_credential_source_together_is_an_error);
	tcase_add_test(tc, partial_profile_keys_is_an_error_without_the_secret);
	tcase_add_test(tc, container_relative_uri_uses_the_agent_address);
	tcase_add_test(tc, container_full_uri_over_http_must_be_loopback);
	tcase_add_test(tc, container_token_file_wins_over_token);
	tcase_add_test(tc, imds_endpoint_override_and_ipv6_mode);
	tcase_add_test(tc, imds_disabled_and_nothing_else_is_an_error);
	tcase_add_test(tc, config_assume_role_goes_on_top_with_session_keyhealthd);
	tcase_add_test(tc, config_assume_role_must_be_a_role_arn);
	tcase_add_test(tc, sts_endpoint_overrides_in_order);
	tcase_add_test(tc, sts_endpoint_from_env_needs_allow_http_off_loopback);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests-parsers");
	tcase_add_test(tc, assume_role_request_is_a_signed_form_post);
	tcase_add_test(tc, web_identity_request_is_unsigned_and_marks_its_body_secret);
	tcase_add_test(tc, imds_requests_put_a_token_then_get_with_it);
	tcase_add_test(tc, container_request_sends_the_authorization_token);
	tcase_add_test(tc, sts_parse_assume_role_result);
	tcase_add_test(tc, sts_parse_web_identity_result_decodes_entities);
	tcase_add_test(tc, sts_parse_error_response_gives_code_and_message);
	tcase_add_test(tc, sts_parse_rejects_unrecognised_and_incomplete_answers);
	tcase_add_test(tc, json_parse_imds_credentials);
	tcase_add_test(tc, json_parse_imds_failure_code_is_reported);
	tcase_add_test(tc, json_parse_container_credentials_with_offset_expiration);
	tcase_add_test(tc, json_parse_error_status_and_garbage);
	tcase_add_test(tc, process_parse_version_1);
	tcase_add_test(tc, process_parse_rejects_other_versions_without_leaking);
	tcase_add_test(tc, process_parse_without_expiration_never_expires);
	tcase_add_test(tc, imds_parse_role_takes_the_first_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("runner");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, static_credentials_need_no_fetch_and_never_refresh);
	tcase_add_test(tc, imds_runs_token_role_and_credentials_requests);
	tcase_add_test(tc, refresh_starts_five_minutes_before_expiry);
	tcase_add_test(tc, short_lived_credentials_refresh_at_half_life);
	tcase_add_test(tc, old_credentials_are_used_until_new_ones_arrive);
	tcase_add_test(tc, first_fetch_is_asynchronous_and_calls_back_once);
	tcase_add_test(tc, failure_is_reported_with_its_reason_and_backed_off);
	tcase_add_test(tc, failed_refresh_keeps_the_old_credentials);
	tcase_add_test(tc, assume_role_on_top_signs_with_the_source_credentials);
	tcase_add_test(tc, sts_error_is_reported_with_role_and_code);
	tcase_add_test(tc, web_identity_reads_the_token_file_at_fetch_time);
	tcase_add_test(tc, web_identity_missing_token_file_names_the_file);
	tcase_add_test(tc, container_sends_the_token_from_its_file);
	tcase_add_test(tc, container_error_never_shows_the_token);
	tcase_add_test(tc, credential_process_output_is_parsed);
	tcase_add_test(tc, credential_process_exit_status_is_reported);
	tcase_add_test(tc, sigv4_hook_reports_fetch_in_progress);
	tcase_add_test(tc, free_cancels_a_fetch_in_flight);
	tcase_add_test(tc, blocking_resolve_runs_credential_process);
	tcase_add_test(tc, blocking_credential_process_is_killed_at_the_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 nfailed;

	sr = srunner_create(creds_suite());
	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * The health checks: snapshot + baseline + expectations -> findings.
 * Pure: everything comes in through the arguments, including "now".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "check.h"
#include "check_int.h"
#include "check_replica.h"
#include "kms_keystore.h"
#include "kms_material.h"
#include "policy.h"
#include "vendor.h"

#define DAY	86400

static int	check_digest(const char *, unsigned char[CHECK_DIGEST_LEN]);

static char *
check_strdup_or_null(const char *s, int *oom)
{
	char	*d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

void
check_snapshot_free(struct key_snapshot *s)
{
	if (s == NULL)
		return;
	kms_key_meta_free(&s->meta);
	kms_fault_free(&s->describe_err);
	free(s->materials);
	kms_keystore_unref(s->keystore);
	free(s->policy);
	kms_fault_free(&s->policy_err);
	kms_fault_free(&s->rotation_err);
	free(s->alias_key_arn);
	free(s->alias_key_id);
	kms_fault_free(&s->alias_err);
	check_usage_free(s->usage);
	free(s->grants_err);
	check_grants_free(s->grants);
	memset(s, 0, sizeof(*s));
}

void
check_snapshot_trim(struct key_snapshot *s)
{
	char	*state = s->meta.state, *material = NULL;
	char	*mr_type = NULL, *mr_primary = NULL;
	double	 valid_to = s->meta.valid_to;
	double	 created = s->meta.creation_date;

	/* Imported material: the next poll compares the current material
	 * and ValidTo with these (a change makes the list stale). */
	if (s->meta.origin != NULL && strcmp(s->meta.origin, "EXTERNAL") ==
	    0) {
		material = s->meta.current_key_material_id;
		s->meta.current_key_material_id = NULL;
	}
	/* A replica's primary: check_key_json()'s "primary" (/status). */
	if (s->meta.multi_region_type != NULL &&
	    strcmp(s->meta.multi_region_type, "REPLICA") == 0) {
		mr_type = s->meta.multi_region_type;
		mr_primary = s->meta.mr_primary_arn;
		s->meta.multi_region_type = s->meta.mr_primary_arn = NULL;
	}
	free(s->policy);
	s->policy = NULL;
	s->policy_md_set = 0;
	s->meta.state = NULL;
	kms_key_meta_free(&s->meta);
	s->meta.state = state;
	s->meta.current_key_material_id = material;
	s->meta.valid_to = valid_to;
	s->meta.creation_date = created;
	s->meta.multi_region_type = mr_type;
	s->meta.mr_primary_arn = mr_primary;
}

int
check_snapshot_carry(struct key_snapshot *cur, const struct key_snapshot *prev)
{
	char	*arn = NULL, *id = NULL;
	int	 oom = 0;

	if (prev == NULL)
		return 0;
	if (!cur->rotation_known && prev->rotation_known) {
		if (kms_fault_copy(&cur->rotation_err, &prev->rotation_err) ==
		    -1) {
			kms_fault_free(&cur->rotation_err);
			return -1;
		}
		cur->rotation_known = 1;
		cur->rotation_at = prev->rotation_at;
		cur->rotation = prev->rotation;
	}
	if (cur->materials == NULL && prev->materials != NULL) {
		if ((cur->materials = kms_materials_dup(prev->materials)) ==
		    NULL)
			return -1;
		cur->materials_at = prev->materials_at;
	}
	if (!cur->alias_known && prev->alias_known) {
		arn = check_strdup_or_null(prev->alias_key_arn, &oom);
		id = check_strdup_or_null(prev->alias_key_id, &oom);
		if (oom || kms_fault_copy(&cur->alias_err, &prev->alias_err) ==
		    -1) {
			free(arn);
			free(id);
			kms_fault_free(&cur->alias_err);
			return -1;
		}
		cur->alias_known = 1;
		cur->alias_at = prev->alias_at;
		cur->alias_key_arn = arn;
		cur->alias_key_id = id;
	}
	if (cur->usage == NULL && prev->usage != NULL &&
	    (cur->usage = check_usage_dup(prev->usage)) == NULL)
		return -1;
	return check_grants_carry(cur, prev);
}

void
check_baseline_free(struct key_baseline *b)
{
	if (b == NULL)
		return;
	free(b->policy);
	free(b->policy_canonical);
	free(b->material_id);
	memset(b, 0, sizeof(*b));
}

int
check_baseline_digest(struct key_baseline *b)
{
	return check_digest(b->has_policy ? b->policy : NULL, b->policy_md);
}

void
check_baseline_drop_text(struct key_baseline *b)
{
	if (!b->has_policy)
		return;
	free(b->policy);
	free(b->policy_canonical);
	b->policy = NULL;
	b->policy_canonical = NULL;
}

/* The baseline's digest: of its text when it holds one (a baseline
 * built by hand, as the tests do), else the one kept.  Zeroes for none. */
static int
check_baseline_md(const struct key_baseline *b,
    unsigned char md[CHECK_DIGEST_LEN])
{
	if (b == NULL || !b->has_policy) {
		memset(md, 0, CHECK_DIGEST_LEN);
		return 0;
	}
	if (b->policy != NULL)
		return check_digest(b->policy, md);
	memcpy(md, b->policy_md, CHECK_DIGEST_LEN);
	return 0;
}

void
check_snapshot_set_policy(struct key_snapshot *s, char *text)
{
	free(s->policy);
	s->policy = text;
	s->policy_md_set = text != NULL &&
	    check_digest(text, s->policy_md) == 0;
}

/* The snapshot's policy digest: the one taken when it was set, else
 * now. */
static int
check_snapshot_md(const struct key_snapshot *s,
    unsigned char md[CHECK_DIGEST_LEN])
{
	if (s->policy_md_set) {
		memcpy(md, s->policy_md, CHECK_DIGEST_LEN);
		return 0;
	}
	return check_digest(s->policy, md);
}

int
check_baseline_text_needed(const struct key_snapshot *s,
    const struct key_baseline *b, const struct check_cache *c)
{
	unsigned char	pmd[CHECK_DIGEST_LEN];

	if (b == NULL || !b->has_policy || b->policy != NULL ||
	    !s->policy_known || s->policy_err.cls != KMS_OK ||
	    s->policy == NULL)
		return 0;
	if (check_snapshot_md(s, pmd) == -1)
		return 1;
	if (memcmp(pmd, b->policy_md, sizeof(pmd)) == 0)
		return 0;	/* the same text: nothing to compare */
	return !(c != NULL && c->valid &&
	    memcmp(c->policy_md, pmd, sizeof(pmd)) == 0 &&
	    memcmp(c->base_md, b->policy_md, sizeof(pmd)) == 0);
}

const char *
check_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (len > 0)
		buf[0] = '\0';
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (len > 0)
			buf[0] = '\0';
	}
	return buf;
}

const char *
check_key_name(const struct key_expect *ex)
{
	return keyid_name(&ex->id);
}

/* The key id part of a key ARN, or the string itself when it is an id. */
static const char *
check_key_id_of(const char *arn)
{
	const char	*p;

	if (arn == NULL)
		return NULL;
	if (strncmp(arn, "arn:", 4) == 0 && (p = strstr(arn, ":key/")) != NULL)
		return p + 5;
	return arn;
}

/* Local on purpose: lib/check only uses the KMS types, not the client. */
static const char *
check_errclass_name(enum kms_errclass c)
{
	switch (c) {
	case KMS_OK:			return "ok";
	case KMS_ERR_NOT_FOUND:		return "not-found";
	case KMS_ERR_ACCESS_DENIED:	return "access-denied";
	case KMS_ERR_AUTH:		return "auth";
	case KMS_ERR_INVALID_STATE:	return "invalid-state";
	case KMS_ERR_THROTTLED:		return "throttled";
	case KMS_ERR_SERVER:		return "server";
	case KMS_ERR_TRANSPORT:		return "transport";
	case KMS_ERR_MALFORMED:		return "malformed";
	case KMS_ERR_OTHER:		return "other";
	}
	return "other";
}

/* What an on-call engineer should look at for an error class. */
static const char *
check_errclass_hint(enum kms_errclass c)
{
	switch (c) {
	case KMS_ERR_ACCESS_DENIED:
		/* The summary names the operation: its kms: action is
		 * what is missing. */
		return "grant keyhealthd's role that kms: action, as the "
		    "shipped iam-policy.json does";
	case KMS_ERR_AUTH:
		return "check keyhealthd's AWS credentials";
	case KMS_ERR_THROTTLED:
		return "KMS throttled every retry; check the account's "
		    "request rate";
	case KMS_ERR_SERVER:
		return "KMS kept failing; see the AWS Health Dashboard";
	case KMS_ERR_TRANSPORT:
		return "check the network path to the KMS endpoint";
	case KMS_ERR_MALFORMED:
		return "KMS (or a proxy) sent an unexpected response";
	default:
		return "see details";
	}
}

int
check_fail(struct check_failures *cf, const char *op,
    const struct kms_error *e, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;
	json_t	*o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cf->errors == NULL && (cf->errors = json_array()) == NULL)
		return -1;
	if (e != NULL)
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i}", "operation", op,
		    "code", e->code[0] != '\0' ? e->code :
		    check_errclass_name(e->cls), "class",
		    check_errclass_name(e->cls), "message",
		    e->message[0] != '\0' ? e->message : msg, "status",
		    (json_int_t)e->status, "attempts", e->attempts);
	else
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i}", "operation", op,
		    "code", "Evaluation", "class", "evaluation", "message", msg,
		    "status", (json_int_t)0, "attempts", 0);
	if (o == NULL || json_array_append_new(cf->errors, o) == -1)
		return -1;
	if (cf->first[0] == '\0')
		snprintf(cf->first, sizeof(cf->first), "%s", msg);
	return 0;
}

int
check_fail_kms(struct check_failures *cf, const char *name, const char *op,
    const struct kms_error *e)
{
	return check_fail(cf, op, e, "cannot evaluate key %s: %s failed: %s%s%s"
	    " (%s)", name, op, e->code[0] != '\0' ? e->code :
	    check_errclass_name(e->cls), e->message[0] != '\0' ? ": " : "",
	    e->message, check_errclass_hint(e->cls));
}

/* check_fail_kms() for a snapshot part's record. */
static int
check_fail_part(struct check_failures *cf, const char *name, const char *op,
    const struct kms_fault *f)
{
	struct kms_error	e;

	kms_fault_get(f, &e);
	return check_fail_kms(cf, name, op, &e);
}

static int
check_fail_flush(struct check_failures *cf, struct findings *out)
{
	json_t	*d, *first;
	size_t	 n;

	if (cf->errors == NULL || (n = json_array_size(cf->errors)) == 0) {
		json_decref(cf->errors);
		cf->errors = NULL;
		return 0;
	}
	first = json_array_get(cf->errors, 0);
	d = json_deep_copy(first);
	if (d == NULL || json_object_set_new(d, "errors", cf->errors) == -1) {
		json_decref(d);
		json_decref(cf->errors);
		cf->errors = NULL;
		return -1;
	}
	cf->errors = NULL;
	if (n > 1)
		return check_add(out, CHECK_CHECK_FAILED, d,
		    "%s (and %zu more)", cf->first, n - 1);
	return check_add(out, CHECK_CHECK_FAILED, d, "%s", cf->first);
}

int
check_state_is(const struct key_snapshot *s, const char *state)
{
	return s->describe_err.cls == KMS_OK && s->meta.state != NULL &&
	    strcmp(s->meta.state, state) == 0;
}

/* KeyState findings.  Sets *going_away for keys pending (replica)
 * deletion, whose material and rotation don't matter any more. */
static int
check_key_state(const struct key_snapshot *s, const struct key_expect *ex,
    time_t now, struct findings *out, struct check_failures *cf)
{
	const char	*name = check_key_name(ex), *st = s->meta.state;
	char		 when[32];
	json_t		*d;
	double		 left;
	long long	 days;

	if (strcmp(st, "Enabled") == 0 || strcmp(st, "Creating") == 0 ||
	    strcmp(st, "Updating") == 0)
		return 0;
	if (strcmp(st, "Disabled") == 0) {
		d = json_pack("{s:s}", "state", st);
		return check_add(out, CHECK_KEY_DISABLED, d,
		    "key %s is disabled: the vendor can neither encrypt nor "
		    "decrypt backups; re-enable it (aws kms enable-key)", name);
	}
	if (strcmp(st, "PendingDeletion") == 0) {
		if (s->meta.deletion_date <= 0) {
			d = json_pack("{s:s, s:n, s:n}", "state", st,
			    "deletion_date", "days_left");
			return check_add(out, CHECK_KEY_PENDING_DELETION,
			    d, "key %s is scheduled for deletion "
			    "(date unknown): backups become unrecoverable; "
			    "cancel it (aws kms cancel-key-deletion)", name);
		}
		left = floor((s->meta.deletion_date - (double)now) / DAY);
		days = left < 0 ? 0 : (long long)left;
		check_rfc3339((time_t)s->meta.deletion_date, when,
		    sizeof(when));
		d = json_pack("{s:s, s:s, s:I}", "state", st, "deletion_date",
		    when, "days_left", (json_int_t)days);
		return check_add(out, CHECK_KEY_PENDING_DELETION,
		    d, "key %s is scheduled for deletion on %s "
		    "(%lld day%s left): backups become unrecoverable then; "
		    "cancel it (aws kms cancel-key-deletion)", name, when, days,
		    days == 1 ? "" : "s");
	}
	if (strcmp(st, "PendingReplicaDeletion") == 0) {
		d = json_pack("{s:s, s:i}", "state", st, "pending_window_days",
		    s->meta.pending_window_days);
		return check_add(out, CHECK_KEY_PENDING_REPLICA_DELETION,
		    d, "multi-Region replica key %s is scheduled "
		    "for deletion (window %d days): cancel it "
		    "(aws kms cancel-key-deletion) before it is gone", name,
		    s->meta.pending_window_days);
	}
	if (strcmp(st, "Unavailable") == 0) {
		d = json_pack("{s:s, s:s?}", "state", st,
		    "custom_key_store_id", s->meta.custom_key_store_id);
		return check_add(out, CHECK_KEY_UNAVAILABLE,
		    d, "key %s is unavailable: its custom key store%s%s is "
		    "disconnected; reconnect it", name,
		    s->meta.custom_key_store_id != NULL ? " " : "",
		    s->meta.custom_key_store_id != NULL ?
		    s->meta.custom_key_store_id : "");
	}
	if (strcmp(st, "PendingImport") == 0) {
		d = json_pack("{s:s, s:s?}", "state", st, "origin",
		    s->meta.origin);
		return check_add(out, CHECK_KEY_UNAVAILABLE,
		    d, "key %s has no key material (PendingImport): the vendor "
		    "cannot use it; import the key material again", name);
	}
	{
		struct kms_error e;

		kms_fault_get(&s->describe_err, &e);
		e.cls = KMS_ERR_MALFORMED;
		snprintf(e.code, sizeof(e.code), "UnknownKeyState");
		snprintf(e.message, sizeof(e.message),
		    "unknown KeyState \"%.200s\"", st);
		return check_fail_kms(cf, name, "DescribeKey", &e);
	}
}

static int
check_alias(const struct key_snapshot *s, const struct key_expect *ex,
    int deleted, struct findings *out, struct check_failures *cf)
{
	const char	*name = check_key_name(ex), *want, *got;
	json_t		*d;

	if (ex->alias == NULL || !s->alias_known)
		return 0;
	if (s->alias_err.cls == KMS_ERR_NOT_FOUND) {
		/* Deleting a key deletes its aliases: key-deleted says it. */
		if (deleted)
			return 0;
		d = json_pack("{s:s, s:b, s:s, s:n}", "alias", ex->alias,
		    "alias_exists", 0, "expected_key", ex->id.arn, "actual_key");
		return check_add(out, CHECK_KEY_REPLACED, d,
		    "alias %s of key %s no longer exists: if the key was "
		    "replaced, give the vendor the new key; else recreate "
		    "the alias", ex->alias, name);
	}
	if (s->alias_err.cls != KMS_OK) {
		if (deleted)
			return 0;
		return check_fail_part(cf, name, "DescribeKey(alias)",
		    &s->alias_err);
	}
	got = s->alias_key_arn != NULL ? s->alias_key_arn : s->alias_key_id;
	if (got == NULL)
		return check_fail(cf, "DescribeKey(alias)", NULL,
		    "cannot evaluate key %s: DescribeKey(%s) named no key",
		    name, ex->alias);
	if (s->alias_key_arn != NULL)
		want = ex->id.arn;
	else
		want = check_key_id_of(ex->id.arn);
	if (want != NULL && strcmp(got, want) == 0)
		return 0;
	d = json_pack("{s:s, s:b, s:s, s:s}", "alias", ex->alias,
	    "alias_exists", 1, "expected_key", ex->id.arn, "actual_key", got);
	return check_add(out, CHECK_KEY_REPLACED, d,
	    "alias %s now points to %s, not to the configured key %s: a "
	    "manual rotation must be reported to the vendor (or move the "
	    "alias back)", ex->alias, got, name);
}

/*
 * The fields the checks judge a key by.  lib/kms refuses an answer
 * without them; a snapshot that lacks one anyway (built elsewhere) is
 * check-failed, never a key-misconfigured or a state verdict.  0 when
 * complete, 1 when not (recorded in cf), -1 out of memory.
 */
static int
check_meta_incomplete(const struct key_snapshot *s,
    const struct key_expect *ex, struct check_failures *cf)
{
	const struct kms_key_meta	*m = &s->meta;
	struct kms_error		 e;
	const char			*missing;

	if (m->state == NULL)
		missing = "KeyState";
	else if (m->key_spec == NULL)
		missing = "KeySpec";
	else if (m->key_usage == NULL)
		missing = "KeyUsage";
	else if (m->key_manager == NULL)
		missing = "KeyManager";
	else
		return 0;
	kms_fault_get(&s->describe_err, &e);
	e.cls = KMS_ERR_MALFORMED;
	snprintf(e.code, sizeof(e.code), "Missing%s", missing);
	snprintf(e.message, sizeof(e.message), "DescribeKey returned no %s",
	    missing);
	return check_fail_kms(cf, check_key_name(ex), "DescribeKey", &e) ==
	    -1 ? -1 : 1;
}

static int
check_misconfig(const struct key_snapshot *s, const struct key_expect *ex,
    int described, int *region_ok, struct findings *out)
{
	const struct vendor	*v = ex->vendor;
	const char		*name = check_key_name(ex);
	char			 line[1024];
	size_t			 off = 0;
	json_t			*d, *probs;
	int			 n = 0;

	*region_ok = 1;
	if (v == NULL)
		return 0;
	if ((d = json_object()) == NULL || (probs = json_array()) == NULL) {
		json_decref(d);
		return -1;
	}
	if (json_object_set_new(d, "problems", probs) == -1) {
		json_decref(probs);
		json_decref(d);
		return -1;
	}
	line[0] = '\0';
#define PROBLEM(...) do {						\
	char	 p_[256];						\
	snprintf(p_, sizeof(p_), __VA_ARGS__);				\
	if (json_array_append_new(probs, json_string(p_)) == -1)	\
		goto oom;						\
	if (off < sizeof(line)) {					\
		int w_ = snprintf(line + off, sizeof(line) - off, "%s%s",\
		    n > 0 ? "; " : "", p_);				\
		if (w_ > 0)						\
			off += (size_t)w_;				\
	}								\
	n++;								\
} while (0)
	if (ex->id.region == NULL || vendor_account(v, ex->id.region) == NULL) {
		*region_ok = 0;
		PROBLEM("unsupported region %s: vendor %s does not host data "
		    "there", ex->id.region != NULL ? ex->id.region : "(none)",
		    v->name);
	}
	if (described) {
		const struct kms_key_meta *m = &s->meta;

		if (v->key_spec != NULL && (m->key_spec == NULL ||
		    strcmp(m->key_spec, v->key_spec) != 0))
			PROBLEM("KeySpec is %s, vendor %s requires %s",
			    m->key_spec != NULL ? m->key_spec : "(none)",
			    v->name, v->key_spec);
		if (v->key_usage != NULL && (m->key_usage == NULL ||
		    strcmp(m->key_usage, v->key_usage) != 0))
			PROBLEM("KeyUsage is %s, vendor %s requires %s",
			    m->key_usage != NULL ? m->key_usage : "(none)",
			    v->name, v->key_usage);
		if (m->key_manager != NULL &&
		    strcmp(m->key_manager, "AWS") == 0)
			PROBLEM("KeyManager is AWS: an AWS managed key cannot "
			    "be shared with vendor %s; use a customer managed "
			    "key", v->name);
	}
#undef PROBLEM
	if (n == 0) {
		json_decref(d);
		return 0;
	}
	if (json_object_set_new(d, "region", json_string(ex->id.region != NULL ?
	    ex->id.region : "")) == -1 || json_object_set_new(d, "vendor",
	    json_string(v->name)) == -1)
		goto oom;
	if (described && (json_object_set_new(d,
	    "key_spec", s->meta.key_spec != NULL ?
	    json_string(s->meta.key_spec) : json_null()) == -1 ||
	    json_object_set_new(d, "key_usage", s->meta.key_usage != NULL ?
	    json_string(s->meta.key_usage) : json_null()) == -1 ||
	    json_object_set_new(d, "key_manager", s->meta.key_manager != NULL ?
	    json_string(s->meta.key_manager) : json_null()) == -1))
		goto oom;
	return check_add(out, CHECK_KEY_MISCONFIGURED, d,
	    "key %s does not suit vendor %s: %s", name, v->name, line);
oom:
	json_decref(d);
	return -1;
}

static int
check_rotation(const struct key_snapshot *s, const struct key_expect *ex,
    struct findings *out, struct check_failures *cf)
{
	const char	*name = check_key_name(ex);
	json_t		*d;

	if (!ex->expect_rotation || !s->rotation_known)
		return 0;
	/* Disabled, pending deletion, unavailable: the state's own finding
	 * says what matters; a rotation warning would be noise. */
	if (!check_state_is(s, "Enabled"))
		return 0;
	if (s->rotation_err.cls == KMS_ERR_OTHER &&
	    strcmp(kms_fault_code(&s->rotation_err),
	    "UnsupportedOperationException") ==
	    0) {
		d = json_pack("{s:b, s:b, s:s?}", "rotation_enabled", 0,
		    "supported", 0, "origin", s->meta.origin);
		return check_add(out, CHECK_ROTATION_DISABLED,
		    d, "key %s cannot rotate automatically (origin %s), but "
		    "expect_rotation is set: rotate it by hand or drop "
		    "expect_rotation", name, s->meta.origin != NULL ?
		    s->meta.origin : "unknown");
	}
	if (s->rotation_err.cls != KMS_OK)
		return check_fail_part(cf, name, "GetKeyRotationStatus",
		    &s->rotation_err);
	if (s->rotation.enabled)
		return 0;
	d = json_pack("{s:b, s:b}", "rotation_enabled", 0, "supported", 1);
	return check_add(out, CHECK_ROTATION_DISABLED, d,
	    "automatic rotation of key %s is off but expected: turn it on "
	    "(aws kms enable-key-rotation)", name);
}

static int
check_material_rotated(const struct key_snapshot *s,
    const struct key_baseline *base, const struct key_expect *ex,
    struct findings *out)
{
	const char	*cur = s->meta.current_key_material_id;
	json_t		*d;

	if (base == NULL || base->material_id == NULL || cur == NULL ||
	    strcmp(base->material_id, cur) == 0)
		return 0;
	d = json_pack("{s:s, s:s}", "previous_material_id", base->material_id,
	    "current_material_id", cur);
	return check_add(out, CHECK_KEY_MATERIAL_ROTATED, d,
	    "key %s has new key material (rotation): nothing to do, same key "
	    "id for the vendor", check_key_name(ex));
}

/* The key's creation date for the usage verdict: GetKeyLastUsage's own
 * KeyCreationDate, else DescribeKey's CreationDate. */
static double
check_usage_created(const struct key_snapshot *s)
{
	return s->usage->key_creation > 0 ? s->usage->key_creation :
	    s->meta.creation_date;
}

/*
 * key-unused from the last GetKeyLastUsage.  Quiet for a key that is not
 * Enabled: nobody can use it, and its state's finding says why.  A failed
 * fetch is check-failed (GetKeyLastUsage), never a verdict from older
 * data: the alert machine keeps a firing key-unused as it was.
 */
static int
check_usage(const struct key_snapshot *s, const struct key_expect *ex,
    time_t now, struct findings *out, struct check_failures *cf)
{
	const struct key_usage	*u = s->usage;
	const char		*name = check_key_name(ex);
	const struct kms_error	*e;

	if (ex->expect_use_within <= 0 || u == NULL ||
	    !check_state_is(s, "Enabled"))
		return 0;
	if ((e = u->err) != NULL) {
		if (e->cls != KMS_ERR_ACCESS_DENIED)
			return check_fail_kms(cf, name, "GetKeyLastUsage", e);
		return check_fail(cf, "GetKeyLastUsage", e, "cannot tell when "
		    "key %s was last used: GetKeyLastUsage failed: %s%s%s "
		    "(grant keyhealthd's role kms:GetKeyLastUsage, or drop "
		    "expect_use_within)", name, e->code, e->message[0] != '\0'
		    ? ": " : "", e->message);
	}
	return check_usage_finding(u, name, check_usage_created(s),
	    ex->expect_use_within, now, out);
}

/* vendor-access-missing, or check-failed when the evaluator can't tell. */
static int
check_vendor_access(const struct policy *p, const struct key_expect *ex,
    struct findings *out, struct check_failures *cf)
{
	const struct vendor	*v = ex->vendor;
	const char		*name = check_key_name(ex), *account, *first;
	struct policy_verdict	 vd;
	json_t			*d = NULL, *miss = NULL, *o;
	size_t			 i, nmiss;
	int			 rc;

	if ((account = vendor_account(v, ex->id.region)) == NULL)
		return 0;
	memset(&vd, 0, sizeof(vd));
	if ((rc = policy_vendor_access(p, v, account, ex->id.arn, &vd)) == -1)
		goto fail;
	if (rc == POLICY_STATUS_OK) {
		policy_verdict_free(&vd);
		return 0;
	}
	if (rc == POLICY_STATUS_UNKNOWN) {
		rc = check_fail(cf, "PolicyEvaluation", NULL, "cannot tell "
		    "whether the policy of key %s still gives vendor %s "
		    "(account %s) what it needs: %s", name, v->name, account,
		    vd.reason != NULL ? vd.reason : "no reason given");
		policy_verdict_free(&vd);
		return rc;
	}
	if ((miss = json_array()) == NULL)
		goto fail;
	for (i = 0; i < vd.nactions; i++) {
		const struct policy_action_verdict *a = &vd.actions[i];

		if (a->status == POLICY_STATUS_OK)
			continue;
		o = json_pack("{s:s?, s:s?, s:s?, s:s, s:s?, s:s?, s:s?}",
		    "action", a->action, "required", a->required, "group",
		    a->group, "status", policy_status_name(a->status),
		    "granted_by", a->granted_by, "denied_by", a->denied_by,
		    "reason", a->reason);
		if (o == NULL || json_array_append_new(miss, o) == -1)
			goto fail;
	}
	d = json_pack("{s:s, s:s, s:s?, s:s?, s:o}", "vendor", v->name,
	    "account", account, "principal", vd.principal, "reason",
	    vd.reason, "actions", miss);
	miss = NULL;
	if (d == NULL)
		goto fail;
	/* The evaluator's overall reason lists every action; one line for
	 * people names the first definitely missing one and counts the
	 * rest.  Actions it cannot tell about are in the details, but must
	 * not lead the summary: "cannot tell whether kms:Decrypt..." would
	 * hide a kms:CreateGrant that is certainly gone. */
	first = NULL;
	nmiss = 0;
	for (i = 0; i < vd.nactions; i++)
		if (vd.actions[i].status == POLICY_STATUS_MISSING) {
			if (first == NULL)
				first = vd.actions[i].reason;
			nmiss++;
		}
	if (first == NULL)
		first = vd.reason != NULL ? vd.reason :
		    "required actions not allowed";
	if (nmiss > 1)
		rc = check_add(out, CHECK_VENDOR_ACCESS_MISSING,
		    d, "the policy of key %s no longer lets "
		    "vendor %s use it: %s (and %zu more actions); restore the "
		    "vendor's statements", name, v->name, first, nmiss - 1);
	else
		rc = check_add(out, CHECK_VENDOR_ACCESS_MISSING,
		    d, "the policy of key %s no longer lets "
		    "vendor %s use it: %s; restore the vendor's statements",
		    name, v->name, first);
	policy_verdict_free(&vd);
	return rc;
fail:
	json_decref(miss);
	policy_verdict_free(&vd);
	return -1;
}

static int
check_policy_changed(const struct policy *p, const struct key_baseline *base,
    const struct key_expect *ex, struct findings *out,
    struct check_failures *cf)
{
	const char	*name = check_key_name(ex);
	struct policy	*bp;
	char		 perr[256], when[32], **lines = NULL;
	size_t		 nlines = 0, i;
	json_t		*d = NULL, *a = NULL;
	int		 eq, rc = -1;

	if (base == NULL || !base->has_policy)
		return 0;
	/* The holder reads the text back first (check_baseline_text_needed());
	 * this is the last line of defence, never a silent "no drift". */
	if (base->policy == NULL)
		return check_fail(cf, "PolicyBaseline", NULL, "cannot compare "
		    "the policy of key %s with its accepted baseline, whose "
		    "text is no longer in the key's state file: review the "
		    "policy and run keyhealthd baseline accept", name);
	if ((bp = policy_parse(base->policy, strlen(base->policy), perr,
	    sizeof(perr))) == NULL)
		return check_fail(cf, "PolicyBaseline", NULL, "cannot compare "
		    "the policy of key %s with its baseline, which does not "
		    "parse (%s): run keyhealthd baseline accept", name, perr);
	if ((eq = policy_equal(bp, p)) == -1)
		goto out;
	if (eq == 1) {
		rc = 0;
		goto out;
	}
	if (policy_diff(bp, p, &lines, &nlines) == -1 ||
	    (a = json_array()) == NULL)
		goto out;
	for (i = 0; i < nlines; i++)
		if (json_array_append_new(a, json_string(lines[i])) == -1)
			goto out;
	check_rfc3339(base->accepted_at, when, sizeof(when));
	d = json_pack("{s:o, s:s?}", "diff", a, "baseline_accepted_at",
	    base->accepted_at > 0 && when[0] != '\0' ? when : NULL);
	a = NULL;
	if (d == NULL)
		goto out;
	if (nlines > 1)
		rc = check_add(out, CHECK_POLICY_CHANGED, d,
		    "the policy of key %s changed since the accepted baseline: "
		    "%s (and %zu more); if intended, run keyhealthd baseline "
		    "accept", name, lines[0], nlines - 1);
	else
		rc = check_add(out, CHECK_POLICY_CHANGED, d,
		    "the policy of key %s changed since the accepted baseline"
		    "%s%s; if intended, run keyhealthd baseline accept", name,
		    nlines == 1 ? ": " : "", nlines == 1 ? lines[0] : "");
out:
	json_decref(a);
	policy_diff_free(lines, nlines);
	policy_free(bp);
	return rc;
}

void
check_cache_free(struct check_cache *c)
{
	if (c == NULL)
		return;
	findings_clear(&c->fs);
	memset(c, 0, sizeof(*c));
}

/* SHA-256 of text into md; NULL text is all zeroes.  0 or -1. */
static int
check_digest(const char *text, unsigned char md[CHECK_DIGEST_LEN])
{
	unsigned int	len = 0;

	memset(md, 0, CHECK_DIGEST_LEN);
	if (text == NULL)
		return 0;
	if (EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) != 1 ||
	    len != CHECK_DIGEST_LEN)
		return -1;
	return 0;
}

static int
check_findings_copy(struct findings *dst, const struct findings *src,
    size_t from)
{
	size_t	i;
	json_t	*d;

	for (i = from; i < src->n; i++) {
		const struct finding *f = &src->v[i];

		if ((d = json_deep_copy(f->details)) == NULL ||
		    findings_add(dst, f->check, f->severity, d, "%s",
		    f->summary) == -1)
			return -1;
	}
	return 0;
}

static int	check_policy_eval(const struct key_snapshot *,
		    const struct key_baseline *, const struct key_expect *,
		    int, struct findings *, struct check_failures *);

/*
 * The policy part through the cache: the same policy text, baseline text
 * and region verdict as last time give the same findings, without
 * parsing or evaluating anything.  Only outcomes without a check-failed
 * part are kept (those join the poll's other failures).
 */
static int
check_policy(const struct key_snapshot *s, const struct key_baseline *base,
    const struct key_expect *ex, int region_ok, struct findings *out,
    struct check_failures *cf, struct check_cache *c)
{
	unsigned char	pmd[CHECK_DIGEST_LEN], bmd[CHECK_DIGEST_LEN];
	size_t		first = out->n, nerr;

	if (c == NULL || !s->policy_known || s->policy_err.cls != KMS_OK ||
	    s->policy == NULL)
		return check_policy_eval(s, base, ex, region_ok, out, cf);
	if (check_snapshot_md(s, pmd) == -1 ||
	    check_baseline_md(base, bmd) == -1) {
		c->valid = 0;
		return check_policy_eval(s, base, ex, region_ok, out, cf);
	}
	if (c->valid && c->region_ok == region_ok &&
	    memcmp(c->policy_md, pmd, sizeof(pmd)) == 0 &&
	    memcmp(c->base_md, bmd, sizeof(bmd)) == 0)
		return check_findings_copy(out, &c->fs, 0);
	nerr = cf->errors != NULL ? json_array_size(cf->errors) : 0;
	if (check_policy_eval(s, base, ex, region_ok, out, cf) == -1)
		return -1;
	findings_clear(&c->fs);
	c->valid = 0;
	if ((cf->errors != NULL ? json_array_size(cf->errors) : 0) != nerr)
		return 0;
	if (check_findings_copy(&c->fs, out, first) == -1) {
		findings_clear(&c->fs);
		return 0;	/* only the memo is lost */
	}
	memcpy(c->policy_md, pmd, sizeof(pmd));
	memcpy(c->base_md, bmd, sizeof(bmd));
	c->region_ok = region_ok;
	c->valid = 1;
	return 0;
}

/* Whether text is the baseline's policy text (by digest when only that
 * is held). */
static int
check_same_as_baseline(const char *text, const struct key_baseline *b)
{
	unsigned char	md[CHECK_DIGEST_LEN];

	if (b == NULL || !b->has_policy)
		return 0;
	if (b->policy != NULL)
		return strcmp(b->policy, text) == 0;
	return check_digest(text, md) == 0 &&
	    memcmp(md, b->policy_md, sizeof(md)) == 0;
}

/* The policy part: fetch errors, vendor access, drift from the baseline. */
static int
check_policy_eval(const struct key_snapshot *s,
    const struct key_baseline *base, const struct key_expect *ex,
    int region_ok, struct findings *out, struct check_failures *cf)
{
	const char	*name = check_key_name(ex);
	struct policy	*p;
	char		 perr[256];
	int		 rc;

	if (!s->policy_known)
		return 0;
	if (s->policy_err.cls != KMS_OK) {
		/* KMS refuses GetKeyPolicy on keys pending deletion (and may
		 * on other non-Enabled states): that state's finding is the
		 * news, not the refusal. */
		if (s->policy_err.cls == KMS_ERR_INVALID_STATE &&
		    s->describe_err.cls == KMS_OK && s->meta.state != NULL &&
		    strcmp(s->meta.state, "Enabled") != 0)
			return 0;
		return check_fail_part(cf, name, "GetKeyPolicy", &s->policy_err);
	}
	if (s->policy == NULL)
		return check_fail(cf, "GetKeyPolicy", NULL,
		    "cannot evaluate key %s: GetKeyPolicy returned no policy",
		    name);
	if ((p = policy_parse(s->policy, strlen(s->policy), perr,
	    sizeof(perr))) == NULL)
		return check_fail(cf, "PolicyEvaluation", NULL, "cannot "
		    "evaluate the policy of key %s: %s", name, perr);
	rc = 0;
	if (ex->vendor != NULL && region_ok)
		rc = check_vendor_access(p, ex, out, cf);
	/* The same text as the baseline is the same policy: skip parsing
	 * and canonicalising the baseline, the bulk of a poll's CPU. */
	if (rc == 0 && !check_same_as_baseline(s->policy, base))
		rc = check_policy_changed(p, base, ex, out, cf);
	policy_free(p);
	return rc;
}

/*
 * Summaries are one line for a pager or a chat message: text that came
 * from KMS or a policy (messages, Sids) could hold control characters,
 * and a policy reason can be long.
 */
static void
check_tidy_summary(char *sum)
{
	size_t	len, cut;
	char	*p;

	for (p = sum; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if ((len = strlen(sum)) <= CHECK_SUMMARY_MAX)
		return;
	cut = CHECK_SUMMARY_MAX - 3;
	/* Don't split a UTF-8 sequence. */
	while (cut > 0 && ((unsigned char)sum[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(sum + cut, "...", 4);
}

int
check_key(const struct key_snapshot *s, const struct key_baseline *base,
    const struct key_expect *ex, time_t now, struct findings *out)
{
	return check_key_cached(s, base, ex, now, NULL, out);
}

int
check_key_cached(const struct key_snapshot *s,
    const struct key_baseline *base, const struct key_expect *ex, time_t now,
    struct check_cache *cache, struct findings *out)
{
	struct check_failures	 cf;
	const char		*name = check_key_name(ex);
	int			 deleted, described, region_ok, rc;
	size_t			 first, i;
	json_t			*d;

	memset(&cf, 0, sizeof(cf));
	first = out->n;
	deleted = s->describe_err.cls == KMS_ERR_NOT_FOUND;
	described = s->describe_err.cls == KMS_OK;

	if (deleted) {
		d = json_pack("{s:s, s:s}", "code",
		    kms_fault_code(&s->describe_err)[0] != '\0' ?
		    kms_fault_code(&s->describe_err) : "NotFoundException",
		    "message", kms_fault_message(&s->describe_err));
		if (check_add(out, CHECK_KEY_DELETED, d,
		    "key %s no longer exists (DescribeKey: NotFound): data "
		    "encrypted under it is unrecoverable; restore from a backup "
		    "under another key and configure the new key", name) == -1)
			goto fail;
	} else if (!described) {
		if (check_fail_part(&cf, name, "DescribeKey",
		    &s->describe_err) == -1)
			goto fail;
	} else if ((rc = check_meta_incomplete(s, ex, &cf)) != 0) {
		if (rc == -1)
			goto fail;
		described = 0;
	} else if (check_key_state(s, ex, now, out, &cf) == -1)
		goto fail;

	if (check_alias(s, ex, deleted, out, &cf) == -1)
		goto fail;
	if (deleted)
		goto done;

	if (described && (check_material(s, ex, now, out, &cf) == -1 ||
	    check_keystore(s, ex, out, &cf) == -1))
		goto fail;
	if (check_misconfig(s, ex, described, &region_ok, out) == -1)
		goto fail;
	if (check_policy(s, base, ex, region_ok, out, &cf, cache) == -1)
		goto fail;
	if (check_rotation(s, ex, out, &cf) == -1)
		goto fail;
	if (described && check_material_rotated(s, base, ex, out) == -1)
		goto fail;
	if (described && check_usage(s, ex, now, out, &cf) == -1)
		goto fail;
	if (check_grants(s, base, ex, out, &cf) == -1)
		goto fail;
done:
	if (check_fail_flush(&cf, out) == -1)
		return -1;
	for (i = first; i < out->n; i++)
		check_tidy_summary(out->v[i].summary);
	return check_replica_annotate(out, first,
	    check_replica_primary(ex, s));
fail:
	json_decref(cf.errors);
	return -1;
}

/* Sets the policy baseline from the snapshot: 0, 1 (no usable policy,
 * reason in err) or -1 (out of memory). */
static int
check_set_policy_baseline(struct key_baseline *b,
    const struct key_snapshot *s, time_t now, char *err, size_t errlen)
{
	struct policy	*p;
	char		*text, *canon, perr[256];

	if (!s->policy_known || s->policy_err.cls != KMS_OK ||
	    s->policy == NULL) {
		snprintf(err, errlen, "no key policy was read%s%s",
		    kms_fault_code(&s->policy_err)[0] != '\0' ? ": " : "",
		    kms_fault_code(&s->policy_err));
		return 1;
	}
	if ((p = policy_parse(s->policy, strlen(s->policy), perr,
	    sizeof(perr))) == NULL) {
		snprintf(err, errlen, "the key policy does not parse: %s",
		    perr);
		return 1;
	}
	canon = policy_canonical(p);
	policy_free(p);
	if (canon == NULL || (text = strdup(s->policy)) == NULL) {
		free(canon);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(b->policy);
	free(b->policy_canonical);
	b->policy = text;
	b->policy_canonical = canon;
	b->has_policy = 1;
	b->accepted_at = now;
	if (check_baseline_digest(b) == -1) {
		snprintf(err, errlen, "cannot hash the key policy");
		return -1;
	}
	return 0;
}

static int
check_set_material(struct key_baseline *b, const struct key_snapshot *s,
    time_t now, int *changed)
{
	const char	*cur = s->meta.current_key_material_id;
	char		*id;

	if (s->describe_err.cls != KMS_OK || cur == NULL ||
	    (b->material_id != NULL && strcmp(b->material_id, cur) == 0))
		return 0;
	if ((id = strdup(cur)) == NULL)
		return -1;
	free(b->material_id);
	b->material_id = id;
	b->material_seen_at = now;
	*changed = 1;
	return 0;
}

int
check_update_baseline(struct key_baseline *b, const struct key_snapshot *s,
    time_t now, int *changed)
{
	char	err[256];
	int	ch = 0, rc;

	if (changed != NULL)
		*changed = 0;
	if (!b->has_policy) {
		if ((rc = check_set_policy_baseline(b, s, now, err,
		    sizeof(err))) == -1)
			return -1;
		if (rc == 0)
			ch = 1;
	}
	if (check_set_material(b, s, now, &ch) == -1)
		return -1;
	if (changed != NULL)
		*changed = ch;
	return 0;
}

int
check_accept_baseline(struct key_baseline *b, const struct key_snapshot *s,
    time_t now, char *err, size_t errlen)
{
	int	ch = 0;

	if (s->describe_err.cls == KMS_ERR_NOT_FOUND) {
		snprintf(err, errlen, "the key does not exist");
		return -1;
	}
	if (check_set_policy_baseline(b, s, now, err, errlen) != 0)
		return -1;
	if (check_set_material(b, s, now, &ch) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

json_t *
check_key_json(const struct key_expect *ex, const struct key_snapshot *s,
    const struct findings *fs)
{
	json_t		*o, *f;
	const char	*state = NULL, *p;
	char		 when[32];

	if (s != NULL) {
		if (s->describe_err.cls == KMS_OK)
			state = s->meta.state;
		else if (s->describe_err.cls == KMS_ERR_NOT_FOUND)
			state = "NotFound";
	}
	if ((f = findings_json(fs)) == NULL)
		return NULL;
	if (s != NULL && s->polled_at > 0)
		check_rfc3339(s->polled_at, when, sizeof(when));
	else
		when[0] = '\0';
	o = json_pack("{s:s?, s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:o}",
	    "arn", ex->id.arn, "name", check_key_name(ex), "region",
	    ex->id.region, "account", ex->id.account, "status",
	    severity_name(findings_worst(fs)), "state", state, "polled_at",
	    when[0] != '\0' ? when : NULL, "findings", f);
	if (o != NULL && (p = check_replica_primary(ex, s)) != NULL &&
	    json_object_set_new(o, "primary", json_string(p)) == -1) {
		json_decref(o);
		return NULL;
	}
	if (o != NULL && s != NULL && check_material_json(s, o) == -1) {
		json_decref(o);
		return NULL;
	}
	if (o != NULL && s != NULL && s->usage != NULL &&
	    s->usage->err == NULL && ex->expect_use_within > 0 &&
	    s->polled_at > 0 &&
	    json_object_set_new(o, "usage", check_usage_json(s->usage,
	    check_usage_created(s), ex->expect_use_within,
	    s->polled_at)) == -1) {
		json_decref(o);
		return NULL;
	}
	if (o != NULL && json_object_set_new(o, "grants",
	    check_grants_json(s)) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

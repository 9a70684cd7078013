/*
 * The grants checks, pure: vendor-grant-revoked and grant-changed from a
 * snapshot's grants summary (struct key_grants) and the baseline, and
 * the summary and diff the daemon builds from a fetched set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_int.h"
#include "vendor.h"

void
check_grants_free(struct key_grants *g)
{
	if (g == NULL)
		return;
	json_decref(g->removed);
	json_decref(g->added);
	free(g->base_err);
	free(g);
}

struct key_grants *
check_grants_summary(json_t *set, const char *vendor_account)
{
	struct key_grants	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if (kms_grants_sort(set) == -1 || kms_grants_digest(set, g->md) == -1) {
		free(g);
		return NULL;
	}
	g->n = json_array_size(set);
	g->nvendor = kms_grants_count_vendor(set, vendor_account);
	return g;
}

int
check_grants_need_diff(const struct key_grants *g,
    const struct key_baseline *base)
{
	return g != NULL && base != NULL && base->has_grants &&
	    memcmp(g->md, base->grants_md, sizeof(g->md)) != 0;
}

int
check_grants_diff(struct key_grants *g, const json_t *base_set,
    const json_t *set, const char *base_err)
{
	json_t	*rm, *add;
	char	*e = NULL;

	if (base_set == NULL) {
		if ((e = strdup(base_err != NULL ? base_err :
		    "no baseline set")) == NULL)
			return -1;
		rm = add = NULL;
	} else if (kms_grants_diff(base_set, set, &rm, &add) == -1)
		return -1;
	json_decref(g->removed);
	json_decref(g->added);
	free(g->base_err);
	g->removed = rm;
	g->added = add;
	g->base_err = e;
	g->diffed = 1;
	return 0;
}

void
check_grants_accept(struct key_baseline *b, const struct key_grants *g,
    time_t now)
{
	b->has_grants = 1;
	memcpy(b->grants_md, g->md, sizeof(b->grants_md));
	b->grants_n = g->n;
	b->grants_nvendor = g->nvendor;
	b->grants_accepted_at = now;
}

int
check_grants_carry(struct key_snapshot *cur, const struct key_snapshot *prev)
{
	struct kms_error	*e = NULL;
	struct key_grants	*g = NULL;
	int			 failed_now = cur->grants_known &&
				    cur->grants_err != NULL;

	/* Fetched fine this time, or nothing to carry. */
	if ((cur->grants_known && !failed_now) || !prev->grants_known ||
	    (failed_now && (cur->grants != NULL || prev->grants == NULL)))
		return 0;
	if (!failed_now && prev->grants_err != NULL) {
		if ((e = malloc(sizeof(*e))) == NULL)
			return -1;
		*e = *prev->grants_err;
	}
	if (prev->grants != NULL) {
		if ((g = malloc(sizeof(*g))) == NULL) {
			free(e);
			return -1;
		}
		*g = *prev->grants;
		if (g->base_err != NULL &&
		    (g->base_err = strdup(g->base_err)) == NULL) {
			free(g);
			free(e);
			return -1;
		}
		/* Never changed once built: shared. */
		json_incref(g->removed);
		json_incref(g->added);
	}
	/* A failed fetch keeps the last summary it has, so that what it
	 * showed stays shown next to the check-failed. */
	if (failed_now) {
		cur->grants = g;
		return 0;
	}
	cur->grants_known = 1;
	cur->grants_at = prev->grants_at;
	cur->grants_err = e;
	cur->grants = g;
	return 0;
}

/* Appends "PREFIX" + the description of each grant of a to lines. */
static int
check_grants_lines(json_t *lines, const char *prefix, const json_t *a)
{
	size_t	 i;
	json_t	*g;
	char	*d;
	int	 rc;

	json_array_foreach(a, i, g) {
		if ((d = kms_grants_describe(g)) == NULL)
			return -1;
		rc = json_array_append_new(lines, json_sprintf("%s%s", prefix,
		    d));
		free(d);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* The grants of a that are (vendor 1) or are not (0) account's. */
static json_t *
check_grants_pick(const json_t *a, const char *account, int vendor)
{
	json_t	*o, *g;
	size_t	 i;

	if ((o = json_array()) == NULL)
		return NULL;
	json_array_foreach(a, i, g)
		if (kms_grants_is_vendor(g, account) == vendor &&
		    json_array_append(o, g) == -1) {
			json_decref(o);
			return NULL;
		}
	return o;
}

static int
check_grants_revoked(const struct key_grants *g,
    const struct key_baseline *base, const struct key_expect *ex,
    const char *account, const json_t *gone, const char *when,
    struct findings *out)
{
	const char	*name = check_key_name(ex);
	enum severity	 sev = g->nvendor == 0 ? SEV_CRITICAL : SEV_WARNING;
	json_t		*d, *lines;
	size_t		 n = json_array_size(gone);

	if ((lines = json_array()) == NULL ||
	    check_grants_lines(lines, "- ", gone) == -1) {
		json_decref(lines);
		return -1;
	}
	d = json_pack("{s:s, s:s, s:o, s:O, s:I, s:I, s:s?}",
	    "vendor", ex->vendor->name, "vendor_account", account,
	    "diff", lines, "revoked", gone,
	    "vendor_grants", (json_int_t)g->nvendor,
	    "vendor_grants_baseline", (json_int_t)base->grants_nvendor,
	    "baseline_accepted_at", when);
	if (d == NULL)
		return -1;
	if (g->nvendor == 0)
		return findings_add(out, CHECK_VENDOR_GRANT_REVOKED, sev, d,
		    "every grant of vendor %s (account %s) on key %s is gone "
		    "(%zu revoked or retired since the baseline): the vendor's "
		    "AWS resources can no longer use the key; have the vendor "
		    "create the grant again, or if intended run keyhealthd "
		    "baseline accept", ex->vendor->name, account, name, n);
	return findings_add(out, CHECK_VENDOR_GRANT_REVOKED, sev, d,
	    "%zu grant%s of vendor %s (account %s) on key %s %s gone since "
	    "the baseline (revoked or retired; %zu left): have the vendor "
	    "create %s again, or if intended run keyhealthd baseline accept",
	    n, n == 1 ? "" : "s", ex->vendor->name, account, name,
	    n == 1 ? "is" : "are", g->nvendor, n == 1 ? "it" : "them");
}

static int
check_grants_changed(const struct key_expect *ex, const json_t *gone,
    const json_t *added, const char *when, struct findings *out)
{
	const char	*name = check_key_name(ex);
	json_t		*d, *lines;
	size_t		 n;

	if ((lines = json_array()) == NULL ||
	    check_grants_lines(lines, "- ", gone) == -1 ||
	    check_grants_lines(lines, "+ ", added) == -1) {
		json_decref(lines);
		return -1;
	}
	n = json_array_size(lines);
	d = json_pack("{s:o, s:I, s:I, s:s?}", "diff", lines,
	    "removed", (json_int_t)json_array_size(gone),
	    "added", (json_int_t)json_array_size(added),
	    "baseline_accepted_at", when);
	if (d == NULL)
		return -1;
	return check_add(out, CHECK_GRANT_CHANGED, d, "the grants on key %s "
	    "changed since the accepted baseline: %s%s; if intended, run "
	    "keyhealthd baseline accept", name, json_string_value(
	    json_array_get(json_object_get(d, "diff"), 0)),
	    n > 1 ? " (and more)" : "");
}

int
check_grants(const struct key_snapshot *s, const struct key_baseline *base,
    const struct key_expect *ex, struct findings *out,
    struct check_failures *cf)
{
	const struct key_grants	*g = s->grants;
	const char		*name = check_key_name(ex), *account = NULL;
	json_t			*vgone = NULL, *ogone = NULL, *oadded = NULL;
	char			 when[32];
	int			 rc = -1;

	if (!s->grants_known)
		return 0;
	/* A failed fetch is check-failed; the last grants known (g, kept
	 * by check_snapshot_carry()) are still judged.  As for GetKeyPolicy,
	 * a refusal for a key that is not Enabled is no news: the state's
	 * own finding is. */
	if (s->grants_err != NULL && !(s->grants_err->cls ==
	    KMS_ERR_INVALID_STATE && s->describe_err.cls == KMS_OK &&
	    s->meta.state != NULL && strcmp(s->meta.state, "Enabled") != 0)) {
		if (s->grants_err->cls == KMS_ERR_ACCESS_DENIED)
			rc = check_fail(cf, "ListGrants", s->grants_err,
			    "cannot evaluate key %s: ListGrants failed: %s "
			    "(grant keyhealthd's role kms:ListGrants)", name,
			    s->grants_err->code);
		else
			rc = check_fail_kms(cf, name, "ListGrants",
			    s->grants_err);
		if (rc == -1)
			return -1;
		rc = -1;
	}
	if (!check_grants_need_diff(g, base))
		return 0;
	if (g->base_err != NULL)
		return check_fail(cf, "GrantsBaseline", NULL, "cannot compare "
		    "the grants of key %s with their baseline (%s): run "
		    "keyhealthd baseline accept", name, g->base_err);
	if (!g->diffed)
		return 0;
	if (ex->vendor != NULL)
		account = vendor_account(ex->vendor, ex->id.region);
	if (base->grants_accepted_at > 0)
		check_rfc3339(base->grants_accepted_at, when, sizeof(when));
	else
		when[0] = '\0';
	if ((vgone = check_grants_pick(g->removed, account, 1)) == NULL ||
	    (ogone = check_grants_pick(g->removed, account, 0)) == NULL ||
	    (oadded = check_grants_pick(g->added, account, 0)) == NULL)
		goto done;
	if (account != NULL && json_array_size(vgone) > 0 &&
	    check_grants_revoked(g, base, ex, account, vgone,
	    when[0] != '\0' ? when : NULL, out) == -1)
		goto done;
	if ((json_array_size(ogone) > 0 || json_array_size(oadded) > 0) &&
	    check_grants_changed(ex, ogone, oadded, when[0] != '\0' ? when :
	    NULL, out) == -1)
		goto done;
	rc = 0;
done:
	json_decref(vgone);
	json_decref(ogone);
	json_decref(oadded);
	return rc;
}

json_t *
check_grants_json(const struct key_snapshot *s)
{
	char	md[KMS_GRANTS_HEX_LEN], when[32];
	json_t	*o;

	if (s == NULL || !s->grants_known)
		return json_null();
	check_rfc3339(s->grants_at, when, sizeof(when));
	/* After a failed listing, the grants last listed, and the error. */
	if (s->grants != NULL)
		o = json_pack("{s:I, s:I, s:s}", "count",
		    (json_int_t)s->grants->n, "vendor",
		    (json_int_t)s->grants->nvendor, "digest",
		    kms_grants_hex(s->grants->md, md));
	else
		o = json_object();
	if (o == NULL || json_object_set_new(o, "fetched_at", when[0] != '\0' ?
	    json_string(when) : json_null()) == -1 || (s->grants_err != NULL &&
	    json_object_set_new(o, "error",
	    json_string(s->grants_err->code)) == -1)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The checks of what surrounds a key's material: every imported key
 * material (ListKeyRotations) and the custom key store (check_int.h).
 * Pure, like the rest of lib/check.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "check_int.h"
#include "kms_keystore.h"
#include "kms_material.h"

#define DAY	86400

/* The summary names a material by the first digits of its id; the
 * details carry it whole. */
#define CHECK_MATERIAL_SHORT	12

/*
 * The material list, or NULL when there is none to judge by.  A failed
 * fetch is check-failed, except where the failure is an answer: a key
 * that cannot list its materials (UnsupportedOperationException, e.g. a
 * multi-Region imported key on an older API), or a refusal tied to a key
 * that is not Enabled, whose state's own finding is the news.
 */
static const struct kms_materials *
check_material_list(const struct key_snapshot *s, const char *name,
    struct check_failures *cf, int *oom)
{
	const struct kms_materials	*ms = s->materials;

	*oom = 0;
	if (ms == NULL)
		return NULL;
	if (ms->err.cls == KMS_OK)
		return ms;
	if (ms->err.cls == KMS_ERR_OTHER &&
	    strcmp(ms->err.code, "UnsupportedOperationException") == 0)
		return NULL;
	if (ms->err.cls == KMS_ERR_INVALID_STATE &&
	    !check_state_is(s, "Enabled"))
		return NULL;
	if (check_fail_kms(cf, name, "ListKeyRotations", &ms->err) == -1)
		*oom = 1;
	return NULL;
}

/*
 * key-material-expiring: the earliest ValidTo of DescribeKey and of
 * every imported material still in use.  DescribeKey's ValidTo alone
 * could be the current material's only (older APIs), and never says
 * which material; the list is fetched less often, so DescribeKey's
 * date wins when it is earlier (the list may be stale).
 */
static int
check_material_expiry(const struct key_snapshot *s,
    const struct key_expect *ex, const struct kms_materials *ms, time_t now,
    struct findings *out)
{
	const char			*name = check_key_name(ex);
	const struct kms_material	*best = NULL, *mt;
	long				 window = ex->material_expiry_warning >
					    0 ? ex->material_expiry_warning :
					    CHECK_EXPIRY_WARNING_DEFAULT;
	double				 vt = 0, left;
	long long			 days;
	char				 when[32], id[2 * KMS_MATERIAL_ID_LEN +
					    1], what[128];
	const char			*mstate = NULL;
	size_t				 i;
	json_t				*d;

	for (i = 0; ms != NULL && i < ms->n; i++) {
		mt = &ms->v[i];
		if (!kms_material_in_use(mt) || !mt->expires ||
		    mt->valid_to <= 0 || mt->import_state == KMS_IMPORT_PENDING)
			continue;
		if (best == NULL || mt->valid_to < best->valid_to)
			best = mt;
	}
	if (best != NULL)
		vt = best->valid_to;
	if (s->meta.expiration_model != NULL &&
	    strcmp(s->meta.expiration_model, "KEY_MATERIAL_EXPIRES") == 0 &&
	    s->meta.valid_to > 0 && (vt <= 0 || s->meta.valid_to < vt - 1)) {
		vt = s->meta.valid_to;
		best = NULL;
	}
	if (vt <= 0)
		return 0;
	left = vt - (double)now;
	if (left > (double)window && left >= CHECK_EXPIRY_CRITICAL)
		return 0;
	check_rfc3339((time_t)vt, when, sizeof(when));
	days = left <= 0 ? 0 : (long long)floor(left / DAY);
	id[0] = '\0';
	what[0] = '\0';
	if (best != NULL) {
		kms_material_id_hex(best, id, sizeof(id));
		mstate = kms_material_state_name(best);
		if (id[0] != '\0')
			snprintf(what, sizeof(what), " %.*s... (%s)",
			    CHECK_MATERIAL_SHORT, id, mstate != NULL ?
			    mstate : "in use");
	}
	d = json_pack("{s:s, s:I, s:b, s:s?, s:s?}", "valid_to", when,
	    "days_left", (json_int_t)days, "expired", left <= 0,
	    "material_id", id[0] != '\0' ? id : NULL, "material_state",
	    mstate);
	if (left <= 0)
		return findings_add(out, CHECK_KEY_MATERIAL_EXPIRING,
		    SEV_CRITICAL, d, "imported key material%s of key %s "
		    "expired on %s: the key is unusable until you import the "
		    "material again", what, name, when);
	return findings_add(out, CHECK_KEY_MATERIAL_EXPIRING,
	    left < CHECK_EXPIRY_CRITICAL ? SEV_CRITICAL : SEV_WARNING, d,
	    "imported key material%s of key %s expires on %s (%lld day%s "
	    "left): re-import it with a later ValidTo", what, name, when,
	    days, days == 1 ? "" : "s");
}

/* key-material-pending: every material whose import state is pending. */
static int
check_material_pending(const struct key_snapshot *s,
    const struct key_expect *ex, const struct kms_materials *ms,
    struct findings *out)
{
	const struct kms_material	*first = NULL, *mt;
	json_t				*d, *arr, *o;
	char				 id[2 * KMS_MATERIAL_ID_LEN + 1];
	char				 fid[2 * KMS_MATERIAL_ID_LEN + 1];
	const char			*fst;
	size_t				 i, n = 0;

	if (ms == NULL)
		return 0;
	if ((arr = json_array()) == NULL)
		return -1;
	for (i = 0; i < ms->n; i++) {
		mt = &ms->v[i];
		if (mt->import_state != KMS_IMPORT_PENDING)
			continue;
		kms_material_id_hex(mt, id, sizeof(id));
		o = json_pack("{s:s?, s:s?, s:b}", "material_id", id[0] !=
		    '\0' ? id : NULL, "material_state",
		    kms_material_state_name(mt), "in_use",
		    kms_material_in_use(mt));
		if (o == NULL || json_array_append_new(arr, o) == -1) {
			json_decref(arr);
			return -1;
		}
		if (first == NULL)
			first = mt;
		n++;
	}
	if (n == 0) {
		json_decref(arr);
		return 0;
	}
	kms_material_id_hex(first, fid, sizeof(fid));
	fst = kms_material_state_name(first);
	d = json_pack("{s:o, s:s?}", "materials", arr, "key_state",
	    s->meta.state);
	if (n > 1)
		return findings_add(out, CHECK_KEY_MATERIAL_PENDING,
		    catalog_severity(CHECK_KEY_MATERIAL_PENDING), d,
		    "key material %.*s... (%s) of key %s is not imported "
		    "(PENDING_IMPORT), and %zu more: data encrypted under them "
		    "cannot be decrypted until you import the same material "
		    "again", CHECK_MATERIAL_SHORT, fid, fst != NULL ? fst :
		    "state unknown", check_key_name(ex), n - 1);
	return findings_add(out, CHECK_KEY_MATERIAL_PENDING,
	    catalog_severity(CHECK_KEY_MATERIAL_PENDING), d,
	    "key material %.*s... (%s) of key %s is not imported "
	    "(PENDING_IMPORT): data encrypted under it cannot be decrypted "
	    "until you import the same material again", CHECK_MATERIAL_SHORT,
	    fid, fst != NULL ? fst : "state unknown", check_key_name(ex));
}

int
check_material(const struct key_snapshot *s, const struct key_expect *ex,
    time_t now, struct findings *out, struct check_failures *cf)
{
	const struct kms_materials	*ms;
	int				 oom;

	/* A key going away: its deletion is the news, not its material. */
	if (check_state_is(s, "PendingDeletion") ||
	    check_state_is(s, "PendingReplicaDeletion"))
		return 0;
	ms = check_material_list(s, check_key_name(ex), cf, &oom);
	if (oom)
		return -1;
	if (check_material_expiry(s, ex, ms, now, out) == -1)
		return -1;
	return check_material_pending(s, ex, ms, out);
}

int
check_keystore(const struct key_snapshot *s, const struct key_expect *ex,
    struct findings *out, struct check_failures *cf)
{
	const struct kms_keystore	*ks = s->keystore;
	const char			*name = check_key_name(ex);
	json_t				*d;

	if (s->meta.custom_key_store_id == NULL || ks == NULL ||
	    ks->id == NULL || strcmp(ks->id, s->meta.custom_key_store_id) != 0)
		return 0;
	if (ks->err.cls != KMS_OK)
		return check_fail_kms(cf, name, "DescribeCustomKeyStores",
		    &ks->err);
	if (kms_keystore_connected(ks))
		return 0;
	d = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?}",
	    "custom_key_store_id", ks->id, "custom_key_store_name", ks->name,
	    "custom_key_store_type", ks->type, "connection_state", ks->state,
	    "connection_error_code", ks->error_code, "key_state",
	    s->meta.state);
	return findings_add(out, CHECK_KEYSTORE_DISCONNECTED,
	    catalog_severity(CHECK_KEYSTORE_DISCONNECTED), d,
	    "custom key store %s (%s, %s) of key %s is %s%s%s%s: KMS cannot "
	    "use its keys until it is CONNECTED; fix the cause and reconnect "
	    "it (aws kms connect-custom-key-store --custom-key-store-id %s)",
	    ks->name != NULL ? ks->name : "(unnamed)", ks->id,
	    ks->type != NULL ? ks->type : "type unknown", name,
	    ks->state != NULL ? ks->state : "in an unknown state",
	    ks->error_code != NULL ? " (" : "",
	    ks->error_code != NULL ? ks->error_code : "",
	    ks->error_code != NULL ? ")" : "", ks->id);
}

int
check_material_json(const struct key_snapshot *s, json_t *o)
{
	const struct kms_materials	*ms = s->materials;
	const struct kms_keystore	*ks = s->keystore;
	const struct kms_material	*mt;
	char				 id[2 * KMS_MATERIAL_ID_LEN + 1];
	char				 when[32];
	json_t				*arr, *e;
	size_t				 i;

	if (ms != NULL && ms->err.cls == KMS_OK) {
		if ((arr = json_array()) == NULL ||
		    json_object_set_new(o, "materials", arr) == -1)
			return -1;
		for (i = 0; i < ms->n; i++) {
			mt = &ms->v[i];
			kms_material_id_hex(mt, id, sizeof(id));
			if (mt->valid_to > 0)
				check_rfc3339((time_t)mt->valid_to, when,
				    sizeof(when));
			e = json_pack("{s:s?, s:s?, s:s?, s:s, s:s?}",
			    "material_id", id[0] != '\0' ? id : NULL,
			    "material_state", kms_material_state_name(mt),
			    "import_state", kms_material_import_name(mt),
			    "expiration_model", mt->expires ?
			    "KEY_MATERIAL_EXPIRES" :
			    "KEY_MATERIAL_DOES_NOT_EXPIRE", "valid_to",
			    mt->valid_to > 0 && when[0] != '\0' ? when : NULL);
			if (e == NULL || json_array_append_new(arr, e) == -1)
				return -1;
		}
	}
	if (ks != NULL && ks->err.cls == KMS_OK && s->meta.custom_key_store_id
	    != NULL && ks->id != NULL &&
	    strcmp(ks->id, s->meta.custom_key_store_id) == 0) {
		e = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?}", "id", ks->id,
		    "name", ks->name, "type", ks->type, "connection_state",
		    ks->state, "connection_error_code", ks->error_code);
		if (e == NULL || json_object_set_new(o, "custom_key_store", e) ==
		    -1)
			return -1;
	}
	return 0;
}

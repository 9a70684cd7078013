/*
 * ListKeyRotations answers: the materials of a key with imported
 * material (kms_material.h).  Pure, fuzzed with the other KMS parsers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "kms_material.h"

struct kms_materials *
kms_materials_new(const struct kms_error *e)
{
	struct kms_materials	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if (e != NULL)
		m->err = *e;
	return m;
}

struct kms_materials *
kms_materials_dup(const struct kms_materials *m)
{
	struct kms_materials	*d;
	size_t			 sz;

	if (m == NULL)
		return NULL;
	sz = sizeof(*m) + m->n * sizeof(m->v[0]);
	if ((d = malloc(sz)) == NULL)
		return NULL;
	memcpy(d, m, sz);
	return d;
}

int
kms_material_in_use(const struct kms_material *mt)
{
	return mt->state == KMS_MSTATE_CURRENT ||
	    mt->state == KMS_MSTATE_NON_CURRENT ||
	    mt->state == KMS_MSTATE_UNKNOWN;
}

const char *
kms_material_id_hex(const struct kms_material *mt, char *buf, size_t len)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	if (len < 2 * KMS_MATERIAL_ID_LEN + 1 || !mt->has_id) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	for (i = 0; i < KMS_MATERIAL_ID_LEN; i++) {
		buf[2 * i] = hex[mt->id[i] >> 4];
		buf[2 * i + 1] = hex[mt->id[i] & 0xf];
	}
	buf[2 * KMS_MATERIAL_ID_LEN] = '\0';
	return buf;
}

static const char *const kms_mstate_names[] = {
	[KMS_MSTATE_UNKNOWN] = NULL,
	[KMS_MSTATE_CURRENT] = "CURRENT",
	[KMS_MSTATE_NON_CURRENT] = "NON_CURRENT",
	[KMS_MSTATE_PENDING_ROTATION] = "PENDING_ROTATION",
	[KMS_MSTATE_PENDING_MR] = "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
};

const char *
kms_material_state_name(const struct kms_material *mt)
{
	if (mt->state >= sizeof(kms_mstate_names) /
	    sizeof(kms_mstate_names[0]))
		return NULL;
	return kms_mstate_names[mt->state];
}

const char *
kms_material_import_name(const struct kms_material *mt)
{
	switch (mt->import_state) {
	case KMS_IMPORT_IMPORTED:
		return "IMPORTED";
	case KMS_IMPORT_PENDING:
		return "PENDING_IMPORT";
	default:
		return NULL;
	}
}

/* One entry into mt; 0 or -1 (err set). */
static int
kms_material_entry(json_t *el, const char *ctx, struct kms_material *mt,
    struct kms_error *err)
{
	char	*id = NULL, *imp = NULL, *st = NULL, *model = NULL;
	size_t	 i;
	int	 rc = -1, hi, lo;

	memset(mt, 0, sizeof(*mt));
	if (!json_is_object(el)) {
		kms_malformed(err, "%s is %s, expected an object", ctx,
		    kms_json_type(el));
		return -1;
	}
	if (kms_get_str(el, ctx, "KeyMaterialId", &id, 0, err) == -1 ||
	    kms_get_str(el, ctx, "ImportState", &imp, 0, err) == -1 ||
	    kms_get_str(el, ctx, "KeyMaterialState", &st, 0, err) == -1 ||
	    kms_get_str(el, ctx, "ExpirationModel", &model, 0, err) == -1 ||
	    kms_get_time(el, ctx, "ValidTo", &mt->valid_to, err) == -1)
		goto done;
	if (id != NULL) {
		if (strlen(id) != 2 * KMS_MATERIAL_ID_LEN) {
			kms_malformed(err, "%s.KeyMaterialId is not 64 hex "
			    "digits", ctx);
			goto done;
		}
		for (i = 0; i < KMS_MATERIAL_ID_LEN; i++) {
			hi = OPENSSL_hexchar2int((unsigned char)id[2 * i]);
			lo = OPENSSL_hexchar2int((unsigned char)id[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				kms_malformed(err, "%s.KeyMaterialId is not "
				    "64 hex digits", ctx);
				goto done;
			}
			mt->id[i] = (unsigned char)(hi << 4 | lo);
		}
		mt->has_id = 1;
	}
	/* An unknown value of a newer API is not an error: it is neither
	 * pending nor in use as far as the checks can tell, and /status
	 * shows it as absent. */
	if (imp != NULL && strcmp(imp, "IMPORTED") == 0)
		mt->import_state = KMS_IMPORT_IMPORTED;
	else if (imp != NULL && strcmp(imp, "PENDING_IMPORT") == 0)
		mt->import_state = KMS_IMPORT_PENDING;
	if (st == NULL)
		mt->state = KMS_MSTATE_UNKNOWN;
	else if (strcmp(st, "CURRENT") == 0)
		mt->state = KMS_MSTATE_CURRENT;
	else if (strcmp(st, "NON_CURRENT") == 0)
		mt->state = KMS_MSTATE_NON_CURRENT;
	else if (strcmp(st, "PENDING_ROTATION") == 0)
		mt->state = KMS_MSTATE_PENDING_ROTATION;
	else
		mt->state = KMS_MSTATE_PENDING_MR;
	mt->expires = model != NULL &&
	    strcmp(model, "KEY_MATERIAL_EXPIRES") == 0;
	rc = 0;
done:
	free(id);
	free(imp);
	free(st);
	free(model);
	return rc;
}

int
kms_material_parse(const char *body, size_t len, struct kms_materials **m,
    char **next_marker, struct kms_error *err)
{
	static const char	 ctx[] = "ListKeyRotations";
	json_t			*root, *arr;
	struct kms_materials	*nm;
	struct kms_material	*tmp = NULL;
	size_t			 i, n = 0, base;
	char			 elctx[64];
	int			 rc = -1;

	*next_marker = NULL;
	if ((root = kms_load_object(body, len, ctx, err)) == NULL)
		return -1;
	if (kms_get_array(root, ctx, "Rotations", &arr, err) == -1)
		goto done;
	n = json_array_size(arr);
	base = *m != NULL ? (*m)->n : 0;
	if (n > KMS_MATERIAL_MAX || base + n > KMS_MATERIAL_MAX) {
		kms_malformed(err, "%s: more than %d key materials", ctx,
		    KMS_MATERIAL_MAX);
		goto done;
	}
	if (n > 0 && (tmp = calloc(n, sizeof(*tmp))) == NULL) {
		kms_malformed(err, "%s: out of memory", ctx);
		goto done;
	}
	for (i = 0; i < n; i++) {
		snprintf(elctx, sizeof(elctx), "%s.Rotations[%zu]", ctx, i);
		if (kms_material_entry(json_array_get(arr, i), elctx, &tmp[i],
		    err) == -1)
			goto done;
	}
	if (kms_parse_marker(root, ctx, next_marker, err) == -1)
		goto done;
	if ((nm = realloc(*m, sizeof(*nm) + (base + n) *
	    sizeof(nm->v[0]))) == NULL) {
		free(*next_marker);
		*next_marker = NULL;
		kms_malformed(err, "%s: out of memory", ctx);
		goto done;
	}
	if (*m == NULL)
		memset(nm, 0, sizeof(*nm));
	if (n > 0)
		memcpy(nm->v + base, tmp, n * sizeof(*tmp));
	nm->n = base + n;
	*m = nm;
	rc = 0;
done:
	free(tmp);
	json_decref(root);
	return rc;
}

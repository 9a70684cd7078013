/*
 * lib/kms_material: ListKeyRotations with IncludeKeyMaterial
 * ALL_KEY_MATERIAL, the key materials of a key with imported material
 * (Origin EXTERNAL).  Such a key can hold several materials since
 * on-demand rotation of imported keys exists: the current one, older ones
 * still needed to decrypt, and one staged for the next rotation.  Each is
 * kept as a compact record (the id as 32 bytes, no texts): a key's
 * materials stay in memory between polls.
 */
#ifndef KEYHEALTHD_KMS_MATERIAL_H
#define KEYHEALTHD_KMS_MATERIAL_H

#include <stddef.h>

#include "kms.h"

/* At most this many materials per key (a malformed answer otherwise). */
#define KMS_MATERIAL_MAX	10000
#define KMS_MATERIAL_ID_LEN	32	/* KeyMaterialId: 64 hex digits */

enum kms_import_state {
	KMS_IMPORT_UNKNOWN = 0,	/* ImportState absent */
	KMS_IMPORT_IMPORTED,
	KMS_IMPORT_PENDING	/* PENDING_IMPORT: deleted or expired */
};

enum kms_material_state {
	KMS_MSTATE_UNKNOWN = 0,	/* KeyMaterialState absent */
	KMS_MSTATE_CURRENT,
	KMS_MSTATE_NON_CURRENT,
	KMS_MSTATE_PENDING_ROTATION,
	KMS_MSTATE_PENDING_MR	/* PENDING_MULTI_REGION_IMPORT_AND_ROTATION */
};

struct kms_material {
	unsigned char	id[KMS_MATERIAL_ID_LEN];
	double		valid_to;	/* ValidTo; 0 absent */
	unsigned char	import_state;	/* enum kms_import_state */
	unsigned char	state;		/* enum kms_material_state */
	unsigned char	expires;	/* ExpirationModel KEY_MATERIAL_EXPIRES */
	unsigned char	has_id;		/* KeyMaterialId was sent */
};

/*
 * One fetch of a key's materials: err says whether it worked (then v[]
 * holds every page's entries, in KMS's order).  One allocation; free with
 * free().
 */
struct kms_materials {
	struct kms_error	err;
	size_t			n;
	struct kms_material	v[];
};

/* Starts ListKeyRotations(KeyId, IncludeKeyMaterial ALL_KEY_MATERIAL),
 * every page, through the client (kms_client.c, rate limited as every
 * call); res->materials holds the list.  As kms_describe_key(). */
int	kms_list_key_rotations(struct kms_client *c,
	    const struct kms_target *t, const char *key_id, kms_cb cb,
	    void *arg, char *err, size_t errlen);

/* An empty list that records the error e (NULL: none); NULL when out of
 * memory. */
struct kms_materials	*kms_materials_new(const struct kms_error *e);
/* A copy; NULL when out of memory (or m is NULL). */
struct kms_materials	*kms_materials_dup(const struct kms_materials *m);

/*
 * One ListKeyRotations page: appends its entries to *m (reallocated; *m
 * may be NULL at the first page), sets *next_marker (malloc'd) when the
 * page says Truncated, else NULL.  0, or -1 with err->cls
 * KMS_ERR_MALFORMED (then *m keeps what earlier pages gave).
 */
int	kms_material_parse(const char *body, size_t len,
	    struct kms_materials **m, char **next_marker,
	    struct kms_error *err);

/* Whether a material is permanently associated with its key (KMS uses
 * it, or keeps it to decrypt): CURRENT, NON_CURRENT, or no state given. */
int	kms_material_in_use(const struct kms_material *mt);

/* The id as 64 lowercase hex digits into buf (at least 65 bytes). */
const char *kms_material_id_hex(const struct kms_material *mt, char *buf,
	    size_t len);
/* "CURRENT", "NON_CURRENT", ... or NULL when absent. */
const char *kms_material_state_name(const struct kms_material *mt);
/* "IMPORTED", "PENDING_IMPORT" or NULL when absent. */
const char *kms_material_import_name(const struct kms_material *mt);

#endif

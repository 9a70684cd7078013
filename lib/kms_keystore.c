/*
 * DescribeCustomKeyStores answers for one store (kms_keystore.h).  Pure,
 * fuzzed with the other KMS parsers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kms_keystore.h"

struct kms_keystore *
kms_keystore_new(const char *id, const struct kms_error *e)
{
	struct kms_keystore	*ks;

	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return NULL;
	if (id != NULL && (ks->id = strdup(id)) == NULL) {
		free(ks);
		return NULL;
	}
	if (e != NULL)
		ks->err = *e;
	ks->refs = 1;
	return ks;
}

struct kms_keystore *
kms_keystore_ref(struct kms_keystore *ks)
{
	if (ks != NULL)
		ks->refs++;
	return ks;
}

void
kms_keystore_unref(struct kms_keystore *ks)
{
	if (ks == NULL || --ks->refs > 0)
		return;
	free(ks->id);
	free(ks->name);
	free(ks->type);
	free(ks->state);
	free(ks->error_code);
	free(ks);
}

int
kms_keystore_connected(const struct kms_keystore *ks)
{
	return ks->state != NULL && strcmp(ks->state, "CONNECTED") == 0;
}

int
kms_keystore_parse(const char *body, size_t len, struct kms_keystore *ks,
    int *found, char **next_marker, struct kms_error *err)
{
	static const char	 ctx[] = "DescribeCustomKeyStores";
	json_t			*root, *arr, *el;
	char			 elctx[64], *id;
	char			*name, *type, *state, *code;
	size_t			 i, n = 0;
	int			 rc = -1;

	*next_marker = NULL;
	if ((root = kms_load_object(body, len, ctx, err)) == NULL)
		return -1;
	if (kms_get_array(root, ctx, "CustomKeyStores", &arr, err) == -1)
		goto done;
	n = json_array_size(arr);
	for (i = 0; i < n; i++) {
		el = json_array_get(arr, i);
		snprintf(elctx, sizeof(elctx), "%s.CustomKeyStores[%zu]", ctx,
		    i);
		if (!json_is_object(el)) {
			kms_malformed(err, "%s is %s, expected an object",
			    elctx, kms_json_type(el));
			goto done;
		}
		id = name = type = state = code = NULL;
		if (kms_get_str(el, elctx, "CustomKeyStoreId", &id, 1, err) ==
		    -1 ||
		    kms_get_str(el, elctx, "CustomKeyStoreName", &name, 0,
		    err) == -1 ||
		    kms_get_str(el, elctx, "CustomKeyStoreType", &type, 0,
		    err) == -1 ||
		    kms_get_str(el, elctx, "ConnectionState", &state, 1,
		    err) == -1 ||
		    kms_get_str(el, elctx, "ConnectionErrorCode", &code, 0,
		    err) == -1) {
			free(id);
			free(name);
			free(type);
			free(state);
			goto done;
		}
		if (ks->id == NULL || strcmp(id, ks->id) != 0) {
			free(id);
			free(name);
			free(type);
			free(state);
			free(code);
			continue;
		}
		free(id);
		free(ks->name);
		free(ks->type);
		free(ks->state);
		free(ks->error_code);
		ks->name = name;
		ks->type = type;
		ks->state = state;
		ks->error_code = code;
		*found = 1;
	}
	rc = kms_parse_marker(root, ctx, next_marker, err);
done:
	json_decref(root);
	return rc;
}

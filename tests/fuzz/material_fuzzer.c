/*
 * libFuzzer target for the KMS answers of lib/kms_material
 * (ListKeyRotations) and lib/kms_keystore (DescribeCustomKeyStores).  The
 * first byte picks the parser; each runs twice over the input, as two
 * pages of one answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kms_keystore.h"
#include "kms_material.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_materials	*ms = NULL, *copy;
	struct kms_keystore	*ks;
	struct kms_error	 e;
	const char		*body;
	char			*next = NULL, hex[2 * KMS_MATERIAL_ID_LEN + 1];
	size_t			 len, i;
	int			 found = 0, pass;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	memset(&e, 0, sizeof(e));
	if (data[0] % 2 == 0) {
		for (pass = 0; pass < 2; pass++)
			if (kms_material_parse(body, len, &ms, &next, &e) == 0)
				free(next);
		if (ms != NULL) {
			for (i = 0; i < ms->n; i++) {
				(void)kms_material_id_hex(&ms->v[i], hex,
				    sizeof(hex));
				(void)kms_material_state_name(&ms->v[i]);
				(void)kms_material_import_name(&ms->v[i]);
				(void)kms_material_in_use(&ms->v[i]);
			}
			if ((copy = kms_materials_dup(ms)) != NULL)
				free(copy);
		}
		free(ms);
		return 0;
	}
	if ((ks = kms_keystore_new("cks-1234567890abcdef0", NULL)) == NULL)
		return 0;
	for (pass = 0; pass < 2; pass++)
		if (kms_keystore_parse(body, len, ks, &found, &next, &e) == 0)
			free(next);
	(void)kms_keystore_connected(ks);
	kms_keystore_unref(ks);
	return 0;
}

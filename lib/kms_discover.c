/*
 * ListKeys answers, for key discovery (lib/kms; the client pages through
 * them in kms_client.c).  Pure: no I/O, fuzzed with the other parsers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kms.h"

/* An account holds at most 100,000 keys by default (a quota that can be
 * raised); past this many an answer is not believed. */
#define KMS_MAX_LISTED_KEYS	1000000

void
kms_listed_keys_free(struct kms_listed_key *k, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(k[i].key_id);
		free(k[i].arn);
	}
	free(k);
}

int
kms_parse_keys(const char *body, size_t len, struct kms_listed_key **keys,
    size_t *nkeys, char **next_marker, struct kms_error *err)
{
	static const char	 ctx[] = "ListKeys";
	json_t			*root, *arr, *el;
	struct kms_listed_key	*nk, *k;
	size_t			 i, n, base = *nkeys;
	char			 elctx[64];
	int			 rc = -1;

	if ((root = kms_page_open(body, len, ctx, "Keys", base,
	    KMS_MAX_LISTED_KEYS, &arr, &n, next_marker, err)) == NULL)
		return -1;
	if (n == 0) {
		rc = 0;
		goto done;
	}
	if ((nk = reallocarray(*keys, base + n, sizeof(*nk))) == NULL) {
		kms_malformed(err, "ListKeys: out of memory");
		goto undo_marker;
	}
	*keys = nk;
	memset(nk + base, 0, n * sizeof(*nk));
	for (i = 0; i < n; i++) {
		el = json_array_get(arr, i);
		k = &nk[base + i];
		(void)snprintf(elctx, sizeof(elctx), "ListKeys.Keys[%zu]", i);
		/* Both are documented as optional; a key we cannot name is
		 * no use to discovery. */
		if (kms_get_str(el, elctx, "KeyId", &k->key_id, 1, err) == -1 ||
		    kms_get_str(el, elctx, "KeyArn", &k->arn, 1, err) == -1)
			goto undo;
	}
	*nkeys = base + n;
	rc = 0;
	goto done;
undo:
	for (i = 0; i < n; i++) {
		free(nk[base + i].key_id);
		free(nk[base + i].arn);
	}
	memset(nk + base, 0, n * sizeof(*nk));
undo_marker:
	free(*next_marker);
	*next_marker = NULL;
done:
	json_decref(root);
	return rc;
}

/*
 * lib/kms_keystore: DescribeCustomKeyStores for one custom key store
 * (CloudHSM or external key store).  The daemon fetches each store once
 * per interval and shares the answer by all keys of the store, so a
 * store's record is reference counted: every key snapshot that saw it
 * holds a reference.
 */
#ifndef KEYHEALTHD_KMS_KEYSTORE_H
#define KEYHEALTHD_KMS_KEYSTORE_H

#include <stddef.h>

#include "kms.h"

/*
 * One fetch of a store: err says whether it worked.  Strings as sent,
 * NULL when absent.
 */
struct kms_keystore {
	unsigned int		 refs;
	struct kms_error	 err;
	char			*id;		/* CustomKeyStoreId */
	char			*name;		/* CustomKeyStoreName */
	char			*type;		/* AWS_CLOUDHSM,
						 * EXTERNAL_KEY_STORE */
	char			*state;		/* ConnectionState */
	char			*error_code;	/* ConnectionErrorCode */
	double			 fetched_at;	/* epoch seconds */
};

/* Starts DescribeCustomKeyStores(CustomKeyStoreId store_id) through the
 * client (kms_client.c, rate limited as every call); res->keystore holds
 * the store.  An answer that does not list it is the error
 * CustomKeyStoreNotFoundException.  As kms_describe_key(). */
int	kms_describe_custom_key_store(struct kms_client *c,
	    const struct kms_target *t, const char *store_id, kms_cb cb,
	    void *arg, char *err, size_t errlen);

/* A record of store id with no answer yet (refs 1) and error e (NULL:
 * none); NULL when out of memory. */
struct kms_keystore	*kms_keystore_new(const char *id,
			    const struct kms_error *e);
struct kms_keystore	*kms_keystore_ref(struct kms_keystore *ks);
/* Drops a reference; frees at the last.  NULL is fine. */
void			 kms_keystore_unref(struct kms_keystore *ks);

/*
 * One DescribeCustomKeyStores page: when it lists the store ks->id, fills
 * ks from that entry and sets *found.  *next_marker as for the other
 * paginated answers.  0, or -1 with err->cls KMS_ERR_MALFORMED.
 */
int	kms_keystore_parse(const char *body, size_t len,
	    struct kms_keystore *ks, int *found, char **next_marker,
	    struct kms_error *err);

/* ConnectionState CONNECTED. */
int	kms_keystore_connected(const struct kms_keystore *ks);

#endif

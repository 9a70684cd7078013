/*
 * A compact record of one fetch's outcome, for what outlives the fetch
 * (a key's last snapshot, 10,000 of them and more).  struct kms_error is
 * the client's working form (fixed buffers, 344 bytes, filled with
 * snprintf); a kept part holds this instead: 24 bytes, and the code and
 * message in one allocation only when there was an error.
 *
 * A zeroed struct is "no error" (cls KMS_OK).  Every part of a snapshot
 * fetched by a KMS call keeps one (describe_err, policy_err, ...); a new
 * part does the same: kms_fault_set() in the callback, kms_fault_free()
 * in the snapshot's free, kms_fault_copy() where the part is carried.
 */
#ifndef KEYHEALTHD_KMS_FAULT_H
#define KEYHEALTHD_KMS_FAULT_H

#include "kms.h"

struct kms_fault {
	char			*text;		/* "code\0message\0"; NULL when
						 * cls is KMS_OK (or no memory
						 * was left for it) */
	long			 status;	/* HTTP status; 0 transport */
	enum kms_errclass	 cls;
	unsigned short		 attempts;
	unsigned char		 retryable;
};

/* Records e (NULL: no error) in f, freeing what f held.  0, or -1 when
 * out of memory: f then keeps the class, status and attempts with an
 * empty code and message. */
int		 kms_fault_set(struct kms_fault *f, const struct kms_error *e);
/* The same from parts (an error of ours, not KMS's: no credentials, a
 * bad endpoint); msg may be NULL. */
int		 kms_fault_local(struct kms_fault *f, enum kms_errclass cls,
		    const char *code, const char *msg);
/* The code ("ThrottlingException", "HTTP 502") and the message; "" when
 * there is none.  They point into f. */
const char	*kms_fault_code(const struct kms_fault *f);
const char	*kms_fault_message(const struct kms_fault *f);
/* Expands f into the client's form (for code that reports one). */
void		 kms_fault_get(const struct kms_fault *f, struct kms_error *out);
/* A deep copy into dst (freed first); 0 or -1 (dst then "no memory" as
 * kms_fault_set() leaves it). */
int		 kms_fault_copy(struct kms_fault *dst,
		    const struct kms_fault *src);
/* Frees what f owns and zeroes it.  NULL is fine. */
void		 kms_fault_free(struct kms_fault *f);

#endif

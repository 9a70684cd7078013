/*
 * Compact fetch outcomes (kms_fault.h): the code and message of an
 * error in one allocation, nothing at all for a success.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms_fault.h"

void
kms_fault_free(struct kms_fault *f)
{
	if (f == NULL)
		return;
	free(f->text);
	memset(f, 0, sizeof(*f));
}

static int
kms_fault_store(struct kms_fault *f, enum kms_errclass cls, long status,
    int attempts, int retryable, const char *code, const char *msg)
{
	size_t	clen, mlen;

	kms_fault_free(f);
	f->cls = cls;
	f->status = status;
	f->attempts = attempts < 0 ? 0 : attempts > USHRT_MAX ? USHRT_MAX :
	    (unsigned short)attempts;
	f->retryable = retryable != 0;
	if (cls == KMS_OK)
		return 0;
	clen = code != NULL ? strlen(code) : 0;
	mlen = msg != NULL ? strlen(msg) : 0;
	if (clen == 0 && mlen == 0)
		return 0;
	if ((f->text = malloc(clen + mlen + 2)) == NULL)
		return -1;
	memcpy(f->text, code != NULL ? code : "", clen);
	f->text[clen] = '\0';
	memcpy(f->text + clen + 1, msg != NULL ? msg : "", mlen);
	f->text[clen + 1 + mlen] = '\0';
	return 0;
}

int
kms_fault_set(struct kms_fault *f, const struct kms_error *e)
{
	if (e == NULL) {
		kms_fault_free(f);
		return 0;
	}
	return kms_fault_store(f, e->cls, e->status, e->attempts,
	    e->retryable, e->code, e->message);
}

int
kms_fault_local(struct kms_fault *f, enum kms_errclass cls,
    const char *code, const char *msg)
{
	return kms_fault_store(f, cls, 0, 0, 0, code, msg);
}

const char *
kms_fault_code(const struct kms_fault *f)
{
	return f->text != NULL ? f->text : "";
}

const char *
kms_fault_message(const struct kms_fault *f)
{
	return f->text != NULL ? f->text + strlen(f->text) + 1 : "";
}

void
kms_fault_get(const struct kms_fault *f, struct kms_error *out)
{
	memset(out, 0, sizeof(*out));
	out->cls = f->cls;
	out->status = f->status;
	out->attempts = f->attempts;
	out->retryable = f->retryable;
	(void)snprintf(out->code, sizeof(out->code), "%s", kms_fault_code(f));
	(void)snprintf(out->message, sizeof(out->message), "%s",
	    kms_fault_message(f));
}

int
kms_fault_copy(struct kms_fault *dst, const struct kms_fault *src)
{
	if (dst == src)
		return 0;
	return kms_fault_store(dst, src->cls, src->status, src->attempts,
	    src->retryable, kms_fault_code(src), kms_fault_message(src));
}

/*
 * Grants on a KMS key (ListGrants), pure: a page's grants in canonical
 * form, the set's canonical order and digest, and the diff of two sets.
 * The loop client (kms_client.c) pages through ListGrants with
 * kms_parse_grants(); lib/check judges the diff.
 *
 * A grant in canonical form is a JSON object with the six fields the
 * baseline keeps:
 *   {"id": GrantId, "grantee": GranteePrincipal, "retiring":
 *    RetiringPrincipal, "issuing_account": IssuingAccount, "operations":
 *    [sorted, unique], "constraints": Constraints}
 * (absent fields are left out; Name and CreationDate are not kept).  Two
 * grants are the same when everything but the id is: KMS never changes a
 * grant, and a grant revoked and created again with the same content is
 * the same access, whatever its new id.  Sets are compared as multisets
 * of that content, so the order KMS lists them in never matters.
 */
#ifndef KEYHEALTHD_KMS_GRANTS_H
#define KEYHEALTHD_KMS_GRANTS_H

#include <stddef.h>

#include <jansson.h>

#include "kms.h"

/* KMS allows 50,000 grants per key; more is not an answer. */
#define KMS_MAX_GRANTS		50000
#define KMS_GRANTS_DIGEST_LEN	32

/*
 * One ListGrants page: appends each of its grants in canonical form to
 * grants (a JSON array), sets *next_marker (malloc'd, the caller frees)
 * when the page says Truncated, else NULL.  0, or -1 with err->cls
 * KMS_ERR_MALFORMED (then nothing is appended).
 */
int	kms_parse_grants(const char *body, size_t len, json_t *grants,
	    char **next_marker, struct kms_error *err);

/* Sorts a set of canonical grants in place into its canonical order (by
 * content, then id).  0, or -1 when out of memory (order unchanged). */
int	kms_grants_sort(json_t *grants);

/* The SHA-256 of the set's content (ids left out, order irrelevant) into
 * md.  0, or -1 when out of memory or a member is not a grant. */
int	kms_grants_digest(const json_t *grants,
	    unsigned char md[KMS_GRANTS_DIGEST_LEN]);

/* The account of a principal: "arn:aws:iam::N:root", any ARN with an
 * account field, or a bare 12-digit account id; NULL for a service
 * principal.  Into buf (at least 13 bytes). */
const char *kms_grants_account_of(const char *principal, char *buf,
	    size_t len);

/* Whether the grant's grantee or issuing account is account's. */
int	kms_grants_is_vendor(const json_t *grant, const char *account);

/* The number of grants of the set that are account's (0 for NULL). */
size_t	kms_grants_count_vendor(const json_t *grants, const char *account);

/*
 * The diff of two canonical sets (both sorted by kms_grants_sort()):
 * *removed the grants of base that cur no longer has, *added the grants
 * of cur that base did not have, each a new array (references to the
 * members of base and cur).  0, or -1 when out of memory.
 */
int	kms_grants_diff(const json_t *base, const json_t *cur,
	    json_t **removed, json_t **added);

/* A digest as 64 lowercase hex digits into buf (at least 65 bytes). */
#define KMS_GRANTS_HEX_LEN	(2 * KMS_GRANTS_DIGEST_LEN + 1)
const char *kms_grants_hex(const unsigned char md[KMS_GRANTS_DIGEST_LEN],
	    char *buf);
/* The digest written as hex into md: 0, or -1 when s is not one. */
int	kms_grants_unhex(const char *s, unsigned char md[KMS_GRANTS_DIGEST_LEN]);

/* One readable line for a grant: "grant ID to GRANTEE: Decrypt, Encrypt
 * (retiring R, issued by A, constraints {...})"; malloc'd, or NULL. */
char	*kms_grants_describe(const json_t *grant);

#endif

/*
 * GetKeyLastUsage's answer (kms.h), pure: KeyLastUsage (Operation,
 * Timestamp, CloudTrailEventId, KmsRequestId), TrackingStartDate and
 * KeyCreationDate, every member optional in the API reference.  An
 * empty or absent KeyLastUsage means no successful cryptographic use
 * since tracking began; what that says about the key is check_usage's
 * business.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kms.h"

void
kms_key_usage_free(struct kms_key_usage *u)
{
	if (u == NULL)
		return;
	free(u->operation);
	free(u->cloudtrail_event_id);
	free(u->request_id);
	memset(u, 0, sizeof(*u));
}

int
kms_parse_key_last_usage(const char *body, size_t len,
    struct kms_key_usage *out, struct kms_error *err)
{
	static const char	 ctx[] = "GetKeyLastUsage";
	static const char	 uctx[] = "GetKeyLastUsage.KeyLastUsage";
	struct kms_key_usage	 u;
	json_t			*root, *lu;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	if ((root = kms_load_object(body, len, ctx, err)) == NULL)
		return -1;
	if (kms_get_time(root, ctx, "TrackingStartDate", &u.tracking_start,
	    err) == -1 ||
	    kms_get_time(root, ctx, "KeyCreationDate", &u.key_creation,
	    err) == -1)
		goto done;
	lu = json_object_get(root, "KeyLastUsage");
	if (lu != NULL && !json_is_null(lu)) {
		if (!json_is_object(lu)) {
			kms_malformed(err, "%s is not an object", uctx);
			goto done;
		}
		if (kms_get_str(lu, uctx, "Operation", &u.operation, 0,
		    err) == -1 ||
		    kms_get_str(lu, uctx, "CloudTrailEventId",
		    &u.cloudtrail_event_id, 0, err) == -1 ||
		    kms_get_str(lu, uctx, "KmsRequestId", &u.request_id, 0,
		    err) == -1 ||
		    kms_get_time(lu, uctx, "Timestamp", &u.timestamp,
		    err) == -1)
			goto done;
		/* "Absent if the key has not been used": an object with
		 * no Timestamp records no use. */
		u.used = u.timestamp > 0;
	}
	*out = u;
	memset(&u, 0, sizeof(u));
	rc = 0;
done:
	kms_key_usage_free(&u);
	json_decref(root);
	return rc;
}

/*
 * Multi-Region keys: the pure part (check_replica.h).
 */
#include <string.h>

#include <jansson.h>

#include "arn.h"
#include "check_replica.h"

const char *
check_replica_primary(const struct key_expect *exp,
    const struct key_snapshot *snap)
{
	if (exp->primary != NULL)
		return exp->primary;
	if (snap == NULL || snap->describe_err.cls != KMS_OK ||
	    snap->meta.multi_region_type == NULL ||
	    strcmp(snap->meta.multi_region_type, "REPLICA") != 0)
		return NULL;
	return snap->meta.mr_primary_arn;
}

int
check_replica_annotate(struct findings *fs, size_t first, const char *primary)
{
	size_t	i;

	if (primary == NULL)
		return 0;
	for (i = first; i < fs->n; i++)
		if (json_object_set_new(fs->v[i].details, "primary",
		    json_string(primary)) == -1)
			return -1;
	return 0;
}

size_t
check_replica_list(const struct kms_key_meta *m, const char *self_arn,
    const char **out, size_t max)
{
	struct arn	 self, r;
	char		 err[128];
	size_t		 i, j, n = 0;

	if (m->multi_region_type == NULL ||
	    strcmp(m->multi_region_type, "PRIMARY") != 0 ||
	    arn_parse(self_arn, &self, err, sizeof(err)) == -1)
		return 0;
	for (i = 0; i < m->mr_nreplicas && n < max; i++) {
		const char *a = m->mr_replicas[i];

		/* A replica shares its primary's key id, partition and
		 * account; anything else is not a replica we can sign for
		 * with the primary's credentials. */
		if (arn_parse(a, &r, err, sizeof(err)) == -1 ||
		    r.kind != ARN_KMS_KEY ||
		    strcmp(r.partition, self.partition) != 0 ||
		    strcmp(r.account, self.account) != 0 ||
		    strcmp(r.resource, self.resource) != 0 ||
		    strcmp(r.region, self.region) == 0)
			continue;
		for (j = 0; j < n && strcmp(out[j], a) != 0; j++)
			;
		if (j == n)
			out[n++] = a;
	}
	return n;
}

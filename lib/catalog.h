/*
 * The check catalogue, with one owner: for each check its stable id,
 * default severity, journald MESSAGE_ID, title, explanation and remedy.
 * Everything else reads this table: check.c (the ids it raises), the
 * alert filters of config and notify, the metrics, the journald notifier,
 * and the shipped systemd/keyhealthd.catalog, which `make catalog` prints
 * from it (a unit test fails when the file, or the CHECKS section of
 * keyhealthd(8), disagrees).  Adding a check is one row here (plus its
 * id below), the check function, and its paragraph in keyhealthd(8).
 */
#ifndef KEYHEALTHD_CATALOG_H
#define KEYHEALTHD_CATALOG_H

#include <stdio.h>

#include "finding.h"

#define CHECK_KEY_DISABLED		"key-disabled"
#define CHECK_KEY_PENDING_DELETION	"key-pending-deletion"
#define CHECK_KEY_PENDING_REPLICA_DELETION "key-pending-replica-deletion"
#define CHECK_KEY_DELETED		"key-deleted"
#define CHECK_KEY_UNAVAILABLE		"key-unavailable"
#define CHECK_KEY_MATERIAL_EXPIRING	"key-material-expiring"
#define CHECK_KEY_REPLACED		"key-replaced"
#define CHECK_VENDOR_ACCESS_MISSING	"vendor-access-missing"
#define CHECK_KEY_MISCONFIGURED		"key-misconfigured"
#define CHECK_POLICY_CHANGED		"policy-changed"
#define CHECK_ROTATION_DISABLED		"rotation-disabled"
#define CHECK_KEY_MATERIAL_ROTATED	"key-material-rotated"
#define CHECK_KEY_MATERIAL_PENDING	"key-material-pending"
#define CHECK_KEYSTORE_DISCONNECTED	"keystore-disconnected"
#define CHECK_CHECK_FAILED		"check-failed"

struct catalog_entry {
	const char	*id;		/* "key-disabled"; NULL ends */
	enum severity	 severity;	/* the default; a check may raise it */
	const char	*message_id;	/* journald MESSAGE_ID, 32 hex */
	const char	*title;		/* journald Subject, with @FIELD@s */
	const char	*text;		/* what it means, one paragraph */
	const char	*remedy;	/* what to do, one paragraph */
};

/* Every check, in the order of keyhealthd(8); a NULL id ends it. */
extern const struct catalog_entry catalog_checks[];
/* The entry of a resolved event (id NULL). */
extern const struct catalog_entry catalog_resolved;

/* The entry of check id, or NULL for an id that is not in the catalogue. */
const struct catalog_entry *catalog_find(const char *id);

/* The default severity of check id; SEV_UNKNOWN for an unknown id. */
enum severity	 catalog_severity(const char *id);

/* The number of checks. */
size_t		 catalog_count(void);

/* Writes the journald message catalog (systemd/keyhealthd.catalog) to f;
 * 0, or -1 on a write error. */
int		 catalog_print_journal(FILE *f);

#endif

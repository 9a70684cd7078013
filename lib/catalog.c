/*
 * The check catalogue (see catalog.h): one row per check, from which the
 * alert filters, the metrics, the journald MESSAGE_IDs and the shipped
 * systemd/keyhealthd.catalog all come.
 */
#include <stdio.h>
#include <string.h>

#include "catalog.h"

/*
 * One row per check, in the order of the man page.  The texts are the
 * journald catalog's (with its @FIELD@ substitutions), one paragraph each;
 * catalog_print_journal() wraps them.  A MESSAGE_ID never changes.
 */
const struct catalog_entry catalog_checks[] = {
	{ CHECK_KEY_DISABLED, SEV_CRITICAL,
	    "e630cc5496aa4b1d8498cca9df8c1d51",
	    "KMS key @KEYHEALTH_KEY_NAME@ is disabled",
	    "The AWS KMS key @KEYHEALTH_KEY_ARN@ is in the state Disabled.  "
	    "The backup vendor can no longer encrypt or decrypt with it: new "
	    "backups fail and existing backups cannot be restored while it "
	    "stays disabled.",
	    "Re-enable the key (aws kms enable-key --key-id "
	    "@KEYHEALTH_KEY_ARN@) unless disabling it was intended, and find "
	    "out who disabled it from CloudTrail (event DisableKey)." },
	{ CHECK_KEY_PENDING_DELETION, SEV_CRITICAL,
	    "acfe9c6ffcb44deda62b7ff0598087c6",
	    "KMS key @KEYHEALTH_KEY_NAME@ is scheduled for deletion",
	    "The AWS KMS key @KEYHEALTH_KEY_ARN@ is in the state "
	    "PendingDeletion.  When the waiting period ends the key and "
	    "every backup encrypted with it become unrecoverable; the alert "
	    "details give the deletion date and the days left.",
	    "Unless the deletion is intended, cancel it now (aws kms "
	    "cancel-key-deletion --key-id @KEYHEALTH_KEY_ARN@) and enable "
	    "the key again; check CloudTrail (ScheduleKeyDeletion) for who "
	    "scheduled it." },
	{ CHECK_KEY_PENDING_REPLICA_DELETION, SEV_CRITICAL,
	    "1cf6b8559d54476d8619568628685101",
	    "KMS key @KEYHEALTH_KEY_NAME@ is pending replica deletion",
	    "The multi-Region AWS KMS key @KEYHEALTH_KEY_ARN@ is in the "
	    "state PendingReplicaDeletion: it is waiting for its replicas to "
	    "be deleted before it is deleted itself.  Backups encrypted with "
	    "it will become unrecoverable.",
	    "Cancel the scheduled deletion of the replicas and of this key "
	    "unless it is intended." },
	{ CHECK_KEY_DELETED, SEV_CRITICAL,
	    "b55d52d505724800a836d4d0c049bfc8",
	    "KMS key @KEYHEALTH_KEY_NAME@ no longer exists",
	    "KMS answered NotFoundException for the configured key "
	    "@KEYHEALTH_KEY_ARN@: it was deleted, or the ARN in the "
	    "configuration is wrong.  A deleted key cannot be recovered; "
	    "backups encrypted with it are lost.",
	    "Check the ARN in keyhealthd.yaml.  If the key really was "
	    "deleted, create a new key, give the vendor access to it and "
	    "configure it with the vendor." },
	{ CHECK_KEY_UNAVAILABLE, SEV_CRITICAL,
	    "01c4b80a29c348f4be0fd28875d4161b",
	    "KMS key @KEYHEALTH_KEY_NAME@ is unavailable",
	    "The AWS KMS key @KEYHEALTH_KEY_ARN@ is in the state Unavailable "
	    "(its custom key store is disconnected) or PendingImport (its "
	    "imported key material is missing).  The vendor cannot use it.",
	    "Reconnect the custom key store, or import the key material "
	    "again." },
	{ CHECK_KEY_MATERIAL_EXPIRING, SEV_WARNING,
	    "6c840b0b5ae54cc995b8f3f2fde69153",
	    "Imported key material of @KEYHEALTH_KEY_NAME@ expires soon",
	    "The imported key material of @KEYHEALTH_KEY_ARN@ has a ValidTo "
	    "date that is approaching or past.  When it expires KMS deletes "
	    "the material and the key becomes unusable until it is imported "
	    "again.  The alert is a warning, and critical under 7 days.",
	    "Re-import the same key material with a later expiry, or without "
	    "one." },
	{ CHECK_KEY_REPLACED, SEV_CRITICAL,
	    "7c6ec5c995a54467a0514348f43b03ed",
	    "The alias of @KEYHEALTH_KEY_NAME@ points to another key",
	    "The alias configured for @KEYHEALTH_KEY_ARN@ now points to a "
	    "different key: somebody rotated the key manually or moved the "
	    "alias.  The vendor may still use the old key, or lose access to "
	    "data encrypted with it.",
	    "Confirm that the replacement was intended, then update the key "
	    "ARN in keyhealthd.yaml and with the vendor; keep the old key "
	    "enabled while backups encrypted with it exist." },
	{ CHECK_VENDOR_ACCESS_MISSING, SEV_CRITICAL,
	    "01c560b2faa14b05b0aa9d066eee0319",
	    "The vendor lost access to KMS key @KEYHEALTH_KEY_NAME@",
	    "The key policy of @KEYHEALTH_KEY_ARN@ no longer allows the "
	    "vendor's principal every action it needs (with its conditions), "
	    "or an explicit Deny overrides it.  Backups and restores fail.",
	    "Restore the vendor's statement in the key policy as the "
	    "vendor's BYOK guide gives it; the alert details name the "
	    "missing actions." },
	{ CHECK_KEY_MISCONFIGURED, SEV_CRITICAL,
	    "c6f1a87c5c034ffe902b16017e3fb191",
	    "KMS key @KEYHEALTH_KEY_NAME@ is not what the vendor requires",
	    "The KeySpec, KeyUsage, KeyManager or region of "
	    "@KEYHEALTH_KEY_ARN@ does not match what the vendor requires, so "
	    "the vendor cannot use this key.",
	    "These properties cannot be changed on an existing key: create a "
	    "key with the required properties and configure it with the "
	    "vendor." },
	{ CHECK_POLICY_CHANGED, SEV_WARNING,
	    "3ae32356c56a42b59b9bd0649a54ce7e",
	    "The key policy of @KEYHEALTH_KEY_NAME@ changed",
	    "The key policy of @KEYHEALTH_KEY_ARN@ differs in meaning from "
	    "the accepted baseline; the alert details carry a readable diff. "
	    " The vendor's access is still intact (that would be "
	    "vendor-access-missing).",
	    "Review the change.  If it is intended, accept it as the new "
	    "baseline with keyhealthd baseline accept." },
	{ CHECK_ROTATION_DISABLED, SEV_WARNING,
	    "b45bdd67a76a490296552665f2f84d1a",
	    "Automatic rotation of @KEYHEALTH_KEY_NAME@ is off",
	    "The configuration expects automatic key rotation for "
	    "@KEYHEALTH_KEY_ARN@ (expect_rotation: true) but it is disabled.",
	    "Enable it (aws kms enable-key-rotation --key-id "
	    "@KEYHEALTH_KEY_ARN@) or set expect_rotation: false." },
	{ CHECK_KEY_MATERIAL_ROTATED, SEV_INFO,
	    "3b39eced87e749e38388cb8ac3c7933a",
	    "Key material of @KEYHEALTH_KEY_NAME@ was rotated",
	    "The current key material of @KEYHEALTH_KEY_ARN@ changed: a "
	    "rotation happened.  This is informational; KMS keeps the old "
	    "material for decryption.",
	    "Nothing to do unless the rotation was unexpected." },
	{ CHECK_KEY_MATERIAL_PENDING, SEV_WARNING,
	    "02741b635fb14cbf9d607e1bbb26ae15",
	    "Imported key material of @KEYHEALTH_KEY_NAME@ is not imported",
	    "A key material of @KEYHEALTH_KEY_ARN@ (a key with imported "
	    "material) has the import state PENDING_IMPORT: it was deleted, "
	    "or it expired.  Data encrypted under that material cannot be "
	    "decrypted until the same material is imported again.  When the "
	    "material is the current one or an older one still in use, KMS "
	    "also sets the key PendingImport, which key-unavailable reports "
	    "as critical; this alert names the material.  The alert details "
	    "list each such material and its state.",
	    "Import the same key material again for the material id in the "
	    "details (aws kms import-key-material --key-id @KEYHEALTH_KEY_ARN@ "
	    "--key-material-id ID, with fresh import parameters from aws kms "
	    "get-parameters-for-import); check CloudTrail "
	    "(DeleteImportedKeyMaterial) for who deleted it." },
	{ CHECK_KEYSTORE_DISCONNECTED, SEV_CRITICAL,
	    "4875306b3dd1447db4b7ede38013e4b2",
	    "Custom key store of @KEYHEALTH_KEY_NAME@ is not connected",
	    "The custom key store (CloudHSM or external key store) that holds "
	    "@KEYHEALTH_KEY_ARN@ is not CONNECTED.  KMS cannot use any key of "
	    "the store while it is disconnected: the keys turn Unavailable "
	    "and the backup vendor can neither encrypt nor decrypt.  The "
	    "alert details carry the store's id, name, type, ConnectionState "
	    "and ConnectionErrorCode.",
	    "Fix what the ConnectionErrorCode names (the CloudHSM cluster, its "
	    "HSMs and the kmsuser password, or the external key store proxy) "
	    "and reconnect the store (aws kms connect-custom-key-store "
	    "--custom-key-store-id ID); check CloudTrail "
	    "(DisconnectCustomKeyStore) for who disconnected it." },
	{ CHECK_CHECK_FAILED, SEV_UNKNOWN,
	    "7c80fa9b471940dda27fed582e233f30",
	    "keyhealthd could not evaluate KMS key @KEYHEALTH_KEY_NAME@",
	    "keyhealthd could not check @KEYHEALTH_KEY_ARN@: access denied, "
	    "missing or expired credentials, throttling after retries, a "
	    "network error or a malformed response.  The key's other alerts "
	    "stay as they were until it can be evaluated again.  The alert "
	    "details carry the error code.",
	    "Check keyhealthd's credentials and IAM policy (kms:DescribeKey, "
	    "kms:GetKeyPolicy, kms:GetKeyRotationStatus, kms:ListAliases) "
	    "and the network path to KMS." },
	{ NULL, SEV_OK, NULL, NULL, NULL, NULL }
};

/* The entry of every resolved event, whatever its check. */
const struct catalog_entry catalog_resolved = {
	NULL, SEV_INFO,
	"d6f435d782af40d393073e06f9695bf3",
	"Alert @KEYHEALTH_CHECK@ for KMS key @KEYHEALTH_KEY_NAME@ "
	"resolved",
	"The condition reported by the alert @KEYHEALTH_CHECK@ "
	"(fingerprint @KEYHEALTH_FINGERPRINT@) for @KEYHEALTH_KEY_ARN@ "
	"is gone: keyhealthd no longer finds it.",
	"Nothing to do."
};

const struct catalog_entry *
catalog_find(const char *id)
{
	size_t	i;

	for (i = 0; id != NULL && catalog_checks[i].id != NULL; i++)
		if (strcmp(catalog_checks[i].id, id) == 0)
			return &catalog_checks[i];
	return NULL;
}

enum severity
catalog_severity(const char *id)
{
	const struct catalog_entry	*e = catalog_find(id);

	return e != NULL ? e->severity : SEV_UNKNOWN;
}

size_t
catalog_count(void)
{
	size_t	n;

	for (n = 0; catalog_checks[n].id != NULL; n++)
		;
	return n;
}

/* s as lines of at most width columns, broken at spaces. */
static void
catalog_wrap(FILE *f, const char *s, size_t width)
{
	const char	*p = s, *word, *end;
	size_t		 col = 0, gap, wl;

	while (*p != '\0') {
		word = p + strspn(p, " ");
		gap = (size_t)(word - p);
		if (*word == '\0')
			break;
		end = word + strcspn(word, " ");
		wl = (size_t)(end - word);
		if (col > 0 && col + gap + wl > width) {
			(void)fputc('\n', f);
			col = 0;
		} else if (col > 0) {
			(void)fprintf(f, "%.*s", (int)gap, p);
			col += gap;
		}
		(void)fprintf(f, "%.*s", (int)wl, word);
		col += wl;
		p = end;
	}
	(void)fputc('\n', f);
}

static void
catalog_print_entry(FILE *f, const struct catalog_entry *e)
{
	(void)fprintf(f, "\n-- %s\nSubject: %s\nDefined-By: keyhealthd\n"
	    "Documentation: man:keyhealthd(8)\n\n", e->message_id, e->title);
	if (e->id != NULL)
		(void)fprintf(f, "Check: %s (KEYHEALTH_CHECK), severity "
		    "@KEYHEALTH_SEVERITY@.\n\n", e->id);
	catalog_wrap(f, e->text, 76);
	(void)fputc('\n', f);
	catalog_wrap(f, e->remedy, 76);
}

int
catalog_print_journal(FILE *f)
{
	size_t	i;

	(void)fprintf(f, "# keyhealthd: journal message catalog "
	    "(journalctl -x).\n# Printed from lib/catalog.c by `make catalog`: "
	    "edit the table there.\n# One entry per check id; a MESSAGE_ID "
	    "never changes.\n");
	for (i = 0; catalog_checks[i].id != NULL; i++)
		catalog_print_entry(f, &catalog_checks[i]);
	catalog_print_entry(f, &catalog_resolved);
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

"""kmsemu: key usage tracking (GetKeyLastUsage) and the cryptographic
operations that feed it (Encrypt, Decrypt, GenerateDataKey).

KMS records, per key, the last successful cryptographic operation and the
date it began tracking that key: the later of the key's creation and the
day the feature started (TrackingStartDate).  Multi-Region primaries and
replicas track independently, so the record lives on each Key.  The
ciphertexts here are not encrypted: they name the key and carry the
plaintext, which is all a test of a monitor needs.

UsageOps is a mixin of kmsemu's KMS class (its methods are operations);
control() serves POST /_emu/keys/<key>/usage.
"""

import base64
import uuid

# kmsemu's error class and time helpers, handed over by bind() when
# kmsemu loads this module (run as a script, kmsemu is __main__ and cannot
# be imported from here).
KMSError = ts = parse_time = None


def bind(**names):
    globals().update(names)


CIPHER_MAGIC = b"kmsemu1\0"
# The operations KMS reports as a key's last use (KeyLastUsageData).
USAGE_OPERATIONS = (
    "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext", "GenerateMac", "ReEncrypt", "Sign",
    "Verify", "VerifyMac")


def record_use(emu, key, operation, when=None):
    """Note a successful cryptographic operation with key."""
    key.last_usage = {
        "Operation": operation,
        "Timestamp": emu.now() if when is None else when,
        "CloudTrailEventId": str(uuid.uuid4()),
        "KmsRequestId": str(uuid.uuid4())}


def tracking_start(emu, key):
    """The later of the key's creation and when tracking began."""
    created = key.meta.get("CreationDate") or 0.0
    start = getattr(key, "tracking_start", None)
    return max(created, start or 0.0)


class UsageOps:
    """KMS operations of kmsemu's KMS class (self.emu is the Emulator)."""

    def _crypto_key(self, c, op, ident):
        key = self.resolve(c, op, ident, aliases=True)
        if key.meta.get("KeyUsage") != "ENCRYPT_DECRYPT" or \
                key.meta.get("KeySpec") != "SYMMETRIC_DEFAULT":
            raise KMSError("InvalidKeyUsageException",
                           "%s key usage is %s; kmsemu encrypts with "
                           "symmetric keys only." % (key.arn,
                                                     key.meta.get("KeyUsage")))
        self._require(key, ("Enabled",), disabled_exc=True)
        return key

    def _seal(self, key, plaintext):
        return base64.b64encode(CIPHER_MAGIC + key.arn.encode() + b"\0" +
                                plaintext).decode()

    def Encrypt(self, c, p):
        key = self._crypto_key(c, "Encrypt", p["KeyId"])
        plaintext = base64.b64decode(p["Plaintext"])
        record_use(self.emu, key, "Encrypt")
        return {"CiphertextBlob": self._seal(key, plaintext),
                "KeyId": key.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def GenerateDataKey(self, c, p):
        key = self._crypto_key(c, "GenerateDataKey", p["KeyId"])
        n = p.get("NumberOfBytes") or (
            16 if p.get("KeySpec") == "AES_128" else 32)
        plaintext = bytes(uuid.uuid4().bytes * 4)[:n]
        record_use(self.emu, key, "GenerateDataKey")
        return {"CiphertextBlob": self._seal(key, plaintext),
                "Plaintext": base64.b64encode(plaintext).decode(),
                "KeyId": key.arn}

    def Decrypt(self, c, p):
        blob = base64.b64decode(p["CiphertextBlob"])
        if not blob.startswith(CIPHER_MAGIC) or \
                blob.find(b"\0", len(CIPHER_MAGIC)) < 0:
            raise KMSError("InvalidCiphertextException", None)
        arn, _, plaintext = blob[len(CIPHER_MAGIC):].partition(b"\0")
        key = self._crypto_key(c, "Decrypt", arn.decode())
        if p.get("KeyId"):
            named = self.resolve(c, "Decrypt", p["KeyId"], aliases=True)
            if named.arn != key.arn:
                raise KMSError("IncorrectKeyException",
                               "The key ID in the request does not identify "
                               "a KMS key that can perform this operation.")
        record_use(self.emu, key, "Decrypt")
        return {"KeyId": key.arn,
                "Plaintext": base64.b64encode(plaintext).decode(),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def GetKeyLastUsage(self, c, p):
        # Key ids and ARNs only: the reference refuses alias names.
        key = self.resolve(c, "GetKeyLastUsage", p["KeyId"])
        out = {"KeyId": key.arn,
               "TrackingStartDate": ts(tracking_start(self.emu, key)),
               "KeyCreationDate": ts(key.meta.get("CreationDate") or 0.0)}
        use = getattr(key, "last_usage", None)
        if use is not None:
            out["KeyLastUsage"] = dict(use, Timestamp=ts(use["Timestamp"]))
        return out


def control(emu, key, doc):
    """POST /_emu/keys/<key>/usage: set or clear what GetKeyLastUsage says.

    {"Operation": "Decrypt", "Timestamp": T}   a use at T (default: now)
    {"clear": true}                            no use recorded
    {"TrackingStartDate": T}                   tracking began at T for this
                                               key (null: the default)
    Times are epoch seconds or ISO 8601.
    """
    with emu.lock:
        if doc.get("clear"):
            key.last_usage = None
        if "TrackingStartDate" in doc:
            key.tracking_start = parse_time(doc["TrackingStartDate"])
        if "Operation" in doc:
            if doc["Operation"] not in USAGE_OPERATIONS:
                raise ValueError("Operation: one of %s"
                                 % ", ".join(USAGE_OPERATIONS))
            record_use(emu, key, doc["Operation"],
                       parse_time(doc.get("Timestamp")))
        use = getattr(key, "last_usage", None)
        return 200, {
            "KeyId": key.arn,
            "KeyLastUsage": (dict(use, Timestamp=ts(use["Timestamp"]))
                             if use else None),
            "TrackingStartDate": ts(tracking_start(emu, key))}

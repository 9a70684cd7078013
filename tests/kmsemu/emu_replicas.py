"""kmsemu: multi-Region keys (ReplicateKey, UpdatePrimaryRegion).

A multi-Region key is a set of related keys with one key id ("mrk-...")
in several Regions of one account: one PRIMARY and any number of
REPLICAs, each with its own key policy and key state (KMS copies neither;
ReplicateKey without a Policy attaches the default key policy, not the
primary's).  Every member's MultiRegionConfiguration lists the same
PrimaryKey and ReplicaKeys (a replica's list holds itself), only
MultiRegionKeyType differs.

ReplicaOps is a mixin of kmsemu's KMS class (its methods are operations).
Shapes are botocore's (Debian's model has both operations).
"""

import json

# kmsemu's names, handed over by bind() when kmsemu loads this module (run
# as a script, kmsemu is __main__ and cannot be imported from here).
KMSError = Key = REGION_RE = default_policy = partition_of = None


def bind(**names):
    globals().update(names)


def members(emu, key):
    """Every key of key's multi-Region key (key included)."""
    out = []
    for (account, _region), keys in emu.keys.items():
        if account == key.account and key.id in keys:
            out.append(keys[key.id])
    return out


def sync_config(emu, primary):
    """Give every member the primary's view of the multi-Region key."""
    cfg = primary.meta["MultiRegionConfiguration"]
    reps = [r for r in cfg.get("ReplicaKeys", [])]
    for k in members(emu, primary):
        k.meta["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": "PRIMARY" if k is primary else "REPLICA",
            "PrimaryKey": {"Arn": primary.arn, "Region": primary.region},
            "ReplicaKeys": json.loads(json.dumps(reps))}


class ReplicaOps:
    def _mr_primary(self, c, op, ident):
        key = self.resolve(c, op, ident)
        mrc = key.meta.get("MultiRegionConfiguration") or {}
        if not key.meta.get("MultiRegion"):
            raise KMSError("UnsupportedOperationException",
                           "%s is not a multi-Region key." % key.arn)
        if mrc.get("MultiRegionKeyType") != "PRIMARY":
            raise KMSError("UnsupportedOperationException",
                           "%s is not a multi-Region primary key."
                           % key.arn)
        return key

    def ReplicateKey(self, c, p):
        key = self._mr_primary(c, "ReplicateKey", p["KeyId"])
        self._customer_managed(key, c, "ReplicateKey")
        region = p["ReplicaRegion"]
        if not REGION_RE.match(region):
            raise KMSError("ValidationException",
                           "1 validation error detected: Value '%s' at "
                           "'replicaRegion' failed to satisfy constraint: "
                           "Member must be a valid Region" % region)
        if region == key.region or partition_of(region) != partition_of(
                key.region):
            raise KMSError("UnsupportedOperationException",
                           "Cannot replicate %s to %s." % (key.arn, region))
        self._require(key, {"Enabled", "Disabled"})
        store = self.emu.store(key.account, region)
        if key.id in store:
            raise KMSError("AlreadyExistsException",
                           "A replica of %s already exists in %s."
                           % (key.arn, region))
        policy = p.get("Policy")
        if policy is not None:
            self._check_policy_text(
                policy, c, p.get("BypassPolicyLockoutSafetyCheck", False),
                key.account, region)
        else:
            policy = default_policy(key.account, partition_of(region))
        meta = json.loads(json.dumps(key.meta))
        arn = "arn:%s:kms:%s:%s:key/%s" % (partition_of(region), region,
                                           key.account, key.id)
        meta.update({"Arn": arn, "CreationDate": self.emu.now(),
                     "Description": p.get("Description", ""),
                     "KeyState": "Enabled", "Enabled": True})
        for f in ("DeletionDate", "PendingDeletionWindowInDays"):
            meta.pop(f, None)
        rep = Key(key.account, region, meta, policy)
        rep.tags = list(p.get("Tags") or [])
        store[key.id] = rep
        key.meta["MultiRegionConfiguration"].setdefault(
            "ReplicaKeys", []).append({"Arn": arn, "Region": region})
        sync_config(self.emu, key)
        self.emu.touch()
        return {"ReplicaKeyMetadata": rep.describe(),
                "ReplicaPolicy": rep.policy, "ReplicaTags": rep.tags}

    def UpdatePrimaryRegion(self, c, p):
        key = self._mr_primary(c, "UpdatePrimaryRegion", p["KeyId"])
        self._customer_managed(key, c, "UpdatePrimaryRegion")
        region = p["PrimaryRegion"]
        new = self.emu.store(key.account, region).get(key.id)
        if new is None or new is key:
            raise KMSError("NotFoundException",
                           "%s has no replica in %s." % (key.arn, region))
        self._require(key, {"Enabled", "Disabled"})
        reps = [r for r in key.meta["MultiRegionConfiguration"].get(
            "ReplicaKeys", []) if r.get("Arn") != new.arn]
        reps.append({"Arn": key.arn, "Region": key.region})
        new.meta["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": new.arn, "Region": new.region},
            "ReplicaKeys": reps}
        sync_config(self.emu, new)
        self.emu.touch()
        return {}

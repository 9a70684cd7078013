"""kmsemu: every key material of a key with imported material.

Keys with Origin EXTERNAL can hold several key materials since on-demand
rotation of imported keys: the current one, older ones still used to
decrypt (NON_CURRENT), and one imported for the next rotation
(PENDING_ROTATION).  A material is IMPORTED or PENDING_IMPORT (deleted, or
expired at its ValidTo).  This module keeps that list per key, answers
ListKeyRotations from it (IncludeKeyMaterial ALL_KEY_MATERIAL or
ROTATIONS_ONLY, paginated), derives DescribeKey's CurrentKeyMaterialId,
ValidTo (the earliest of the materials permanently associated with the
key), ExpirationModel and KeyState (PendingImport while such a material
is not imported), and expires materials as the emulator clock passes
their ValidTo.

Control API (kmsemu.Control dispatches here):
    POST /_emu/keys/KEY/materials   {"materials": [{KeyMaterialId?,
                                     ImportState?, KeyMaterialState?,
                                     ExpirationModel?, ValidTo?,
                                     RotationDate?, RotationType?,
                                     KeyMaterialDescription?}, ...]}
                                    replaces the list (an EXTERNAL key);
                                    {"KeyMaterialId": ID, fields...}
                                    changes one material.
"""

import secrets
import types

K = None    # kmsemu's namespace (KMSError, ts, parse_time), see bind()

IMPORT_STATES = ("IMPORTED", "PENDING_IMPORT")
MATERIAL_STATES = ("CURRENT", "NON_CURRENT", "PENDING_ROTATION",
                   "PENDING_MULTI_REGION_IMPORT_AND_ROTATION")
PERMANENT = ("CURRENT", "NON_CURRENT")
FIELDS = ("KeyMaterialId", "ImportState", "KeyMaterialState",
          "ExpirationModel", "ValidTo", "RotationDate", "RotationType",
          "KeyMaterialDescription")


def bind(ns):
    global K
    K = types.SimpleNamespace(**ns)


def _material(spec, now):
    unknown = [f for f in spec if f not in FIELDS]
    if unknown:
        raise ValueError("unknown material fields: %s" % ", ".join(unknown))
    m = {"KeyMaterialId": spec.get("KeyMaterialId") or secrets.token_hex(32),
         "ImportState": spec.get("ImportState", "IMPORTED"),
         "KeyMaterialState": spec.get("KeyMaterialState", "NON_CURRENT")}
    if len(m["KeyMaterialId"]) != 64 or any(
            ch not in "0123456789abcdef" for ch in m["KeyMaterialId"]):
        raise ValueError("KeyMaterialId: 64 lowercase hex digits")
    if m["ImportState"] not in IMPORT_STATES:
        raise ValueError("ImportState: one of %s" % ", ".join(IMPORT_STATES))
    if m["KeyMaterialState"] not in MATERIAL_STATES:
        raise ValueError("KeyMaterialState: one of %s"
                         % ", ".join(MATERIAL_STATES))
    _set_fields(m, spec, now)
    return m


def _set_fields(m, spec, now):
    for f in ("ImportState", "KeyMaterialState", "KeyMaterialDescription",
              "RotationType"):
        if f in spec:
            m[f] = spec[f]
    if "ValidTo" in spec:
        m["ValidTo"] = (K.parse_time(spec["ValidTo"])
                        if spec["ValidTo"] is not None else None)
    if "RotationDate" in spec:
        m["RotationDate"] = K.parse_time(spec["RotationDate"])
    m["ExpirationModel"] = spec.get(
        "ExpirationModel", m.get("ExpirationModel") or (
            "KEY_MATERIAL_EXPIRES" if m.get("ValidTo")
            else "KEY_MATERIAL_DOES_NOT_EXPIRE"))


def sync_meta(key):
    """DescribeKey's view of the materials."""
    mats = key.materials
    meta = key.meta
    cur = [m for m in mats if m["KeyMaterialState"] == "CURRENT"]
    if cur and cur[0]["ImportState"] == "IMPORTED":
        meta["CurrentKeyMaterialId"] = cur[0]["KeyMaterialId"]
    else:
        meta.pop("CurrentKeyMaterialId", None)
    perm = [m for m in mats if m["KeyMaterialState"] in PERMANENT]
    expiring = [m["ValidTo"] for m in perm
                if m["ImportState"] == "IMPORTED" and m.get("ValidTo")
                and m["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"]
    if expiring:
        meta["ValidTo"] = min(expiring)
        meta["ExpirationModel"] = "KEY_MATERIAL_EXPIRES"
    else:
        meta["ValidTo"] = None
        meta["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
    missing = any(m["ImportState"] == "PENDING_IMPORT" for m in perm)
    if key.state in ("Enabled", "Disabled", "PendingImport"):
        if missing or not perm:
            key.set_state("PendingImport")
        elif key.state == "PendingImport":
            key.set_state("Enabled")


def expire(emu, key, now):
    """Clock: KMS deletes imported material at its ValidTo.  Returns the
    next ValidTo to come, or None."""
    nxt = None
    changed = False
    for m in key.materials:
        if (m["ImportState"] != "IMPORTED" or not m.get("ValidTo")
                or m["ExpirationModel"] != "KEY_MATERIAL_EXPIRES"):
            continue
        if m["ValidTo"] <= now:
            m["ImportState"] = "PENDING_IMPORT"
            changed = True
        else:
            nxt = m["ValidTo"] if nxt is None else min(nxt, m["ValidTo"])
    if changed:
        sync_meta(key)
    return nxt


def control(ctl, method, parts, doc, query):
    """/_emu/keys/KEY/materials, or None when parts name something else."""
    if len(parts) < 3 or parts[0] != "keys" or parts[-1] != "materials" \
            or method != "POST":
        return None
    emu = ctl.emu
    try:
        key = ctl._key("/".join(parts[1:-1]), doc, query)
    except KeyError as e:
        return 404, {"error": str(e).strip("'\"")}
    with emu.lock:
        if key.meta.get("Origin") != "EXTERNAL":
            raise ValueError("key %s has no imported material (Origin %s)"
                             % (key.id, key.meta.get("Origin")))
        now = emu.now()
        if "materials" in doc:
            key.materials = [_material(m, now) for m in doc["materials"]]
            if sum(m["KeyMaterialState"] == "CURRENT"
                   for m in key.materials) > 1:
                raise ValueError("at most one CURRENT material")
        else:
            mid = doc.get("KeyMaterialId")
            found = [m for m in getattr(key, "materials", None) or []
                     if m["KeyMaterialId"] == mid]
            if not found:
                return 404, {"error": "no material %s" % mid}
            _set_fields(found[0], doc, now)
        sync_meta(key)
        emu.touch()
        return 200, {"KeyMetadata": key.describe(),
                     "Materials": _entries(key, key.materials)}


def _implied(key):
    """The one material of an imported key seeded without a list."""
    m = key.meta
    if not m.get("CurrentKeyMaterialId"):
        return []
    return [{"KeyMaterialId": m["CurrentKeyMaterialId"],
             "ImportState": "IMPORTED", "KeyMaterialState": "CURRENT",
             "ExpirationModel": m.get("ExpirationModel") or
             "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": m.get("ValidTo")}]


def _entries(key, mats):
    out = []
    for m in mats:
        e = {"KeyId": key.arn}
        for f in FIELDS:
            v = m.get(f)
            if v is None:
                continue
            e[f] = K.ts(v) if f in ("ValidTo", "RotationDate") else v
        out.append(e)
    return out


class MaterialOps:
    """KMS operations of this module (mixed into kmsemu.KMS)."""

    def ListKeyRotations(self, c, p):
        key = self.resolve(c, "ListKeyRotations", p["KeyId"])
        mats = getattr(key, "materials", None)
        if mats is None and key.meta.get("Origin") == "EXTERNAL":
            mats = _implied(key)
        if mats is not None:
            every = p.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
            chosen = [m for m in mats
                      if every or m.get("RotationDate") is not None]
            items = [dict(e, _i=i) for i, e in enumerate(
                _entries(key, chosen))]
        else:
            items = [dict(r, RotationDate=K.ts(r["RotationDate"]), _i=i)
                     for i, r in enumerate(key.rotations)]
        page, extra = self._paginate(p, "rotations", items,
                                     lambda r: r["_i"], 100, 1000)
        for r in page:
            r.pop("_i")
        out = {"Rotations": page}
        out.update(extra)
        return out

"""Grants for kmsemu: CreateGrant, ListGrants, RevokeGrant, RetireGrant.

A mixin of kmsemu's KMS class.  Behaviour as AWS documents it:

- ListGrants pages with Limit (1-100; default 50) / Marker / NextMarker /
  Truncated, in creation order; a Limit above 100 is a ValidationException,
  a bad Marker InvalidMarkerException, a GrantId filter that is not a grant
  id InvalidGrantIdException.  The control API's config item
  grants_page_size (POST /_emu/config) caps every page lower, so tests get
  several pages from a few grants; grants_reverse lists them newest first
  (KMS documents no order).
- CreateGrant returns a GrantToken; RetireGrant takes that token, or KeyId
  and GrantId (then only the grant's retiring principal, its grantee when
  the grant allows RetireGrant, or the key's account may retire it).
  Errors: InvalidGrantTokenException, InvalidGrantIdException,
  NotFoundException, AccessDeniedException; a request with neither a token
  nor KeyId and GrantId is a ValidationException.
- RevokeGrant: by KeyId and GrantId; InvalidGrantIdException for a
  malformed id, NotFoundException for an unknown one.
"""

import base64
import re
import secrets

GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}$")
LIST_GRANTS_MAX = 100
LIST_GRANTS_DEFAULT = 50


# kmsemu's error class and timestamp function, given by bind(): kmsemu
# runs as __main__, so importing it from here would load a second copy.
_KMSError = None
_ts = None


def bind(kms_error, ts):
    global _KMSError, _ts
    _KMSError, _ts = kms_error, ts


def _kms_error(code, message):
    return _KMSError(code, message)


class GrantsMixin:
    """KMS grant operations; self.emu is the Emulator."""

    @staticmethod
    def _grant_id_ok(gid):
        if not GRANT_ID_RE.match(gid or ""):
            raise _kms_error("InvalidGrantIdException",
                             "Invalid grant ID %s" % gid)

    def CreateGrant(self, c, p):
        key = self.resolve(c, "CreateGrant", p["KeyId"])
        self._require(key, {"Enabled", "Disabled"})
        if not p.get("Operations"):
            raise _kms_error("ValidationException",
                             "1 validation error detected: Value '[]' at "
                             "'operations' failed to satisfy constraint: "
                             "Member must have length greater than or equal "
                             "to 1")
        g = self.emu._add_grant(key, p, c.account)
        token = base64.b64encode(secrets.token_bytes(96)).decode()
        self.emu.grant_tokens[token] = (key.account, key.region, key.id,
                                        g["GrantId"])
        return {"GrantToken": token, "GrantId": g["GrantId"]}

    def ListGrants(self, c, p):
        key = self.resolve(c, "ListGrants", p["KeyId"])
        limit = p.get("Limit")
        if limit is not None and limit > LIST_GRANTS_MAX:
            raise _kms_error(
                "ValidationException",
                "1 validation error detected: Value '%d' at 'limit' failed "
                "to satisfy constraint: Member must have value less than or "
                "equal to %d" % (limit, LIST_GRANTS_MAX))
        if p.get("GrantId") is not None:
            self._grant_id_ok(p["GrantId"])
        grants = [g for g in key.grants
                  if (not p.get("GrantId") or g["GrantId"] == p["GrantId"])
                  and (not p.get("GranteePrincipal")
                       or g["GranteePrincipal"] == p["GranteePrincipal"])]
        if self.emu.config.get("grants_reverse"):
            grants.reverse()
        items = [dict(g, CreationDate=_ts(g["CreationDate"]), _i=i)
                 for i, g in enumerate(grants)]
        cap = LIST_GRANTS_MAX
        small = self.emu.config.get("grants_page_size")
        if small:
            cap = min(cap, int(small))
        page, extra = self._paginate(p, "grants", items, lambda g: g["_i"],
                                     min(LIST_GRANTS_DEFAULT, cap), cap)
        for g in page:
            g.pop("_i")
        out = {"Grants": page}
        out.update(extra)
        return out

    def RevokeGrant(self, c, p):
        key = self.resolve(c, "RevokeGrant", p["KeyId"])
        self._grant_id_ok(p["GrantId"])
        for i, g in enumerate(key.grants):
            if g["GrantId"] == p["GrantId"]:
                del key.grants[i]
                return {}
        raise _kms_error("NotFoundException",
                         "Grant ID %s not found" % p["GrantId"])

    def RetireGrant(self, c, p):
        token = p.get("GrantToken")
        if token is not None:
            where = self.emu.grant_tokens.get(token)
            if where is None:
                raise _kms_error("InvalidGrantTokenException",
                                 "The grant token is not valid")
            account, region, key_id, gid = where
            if p.get("GrantId") is not None and p["GrantId"] != gid:
                raise _kms_error("InvalidGrantIdException",
                                 "The grant ID does not match the token")
            key = self.emu.store(account, region).get(key_id)
        elif p.get("KeyId") is not None and p.get("GrantId") is not None:
            self._grant_id_ok(p["GrantId"])
            key = self.resolve(c, "RetireGrant", p["KeyId"])
            gid = p["GrantId"]
        else:
            raise _kms_error("ValidationException",
                             "Either GrantToken, or both KeyId and GrantId, "
                             "must be specified")
        for i, g in enumerate(key.grants if key is not None else []):
            if g["GrantId"] != gid:
                continue
            if token is None and not self._may_retire(c, key, g):
                raise _kms_error(
                    "AccessDeniedException",
                    "User: %s is not authorized to perform: kms:RetireGrant "
                    "on grant %s" % (c.arn, gid))
            del key.grants[i]
            self.emu.grant_tokens = {
                t: w for t, w in self.emu.grant_tokens.items()
                if w[3] != gid}
            return {}
        raise _kms_error("NotFoundException", "Grant ID %s not found" % gid)

    @staticmethod
    def _may_retire(c, key, g):
        if c.account == key.account:
            return True
        if g.get("RetiringPrincipal") in (c.arn, c.account,
                                          "arn:aws:iam::%s:root" % c.account):
            return True
        return (g.get("GranteePrincipal") == c.arn
                and "RetireGrant" in g.get("Operations", []))

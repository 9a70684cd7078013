"""kmsemu: custom key stores (CloudHSM and external key stores).

Stores live per (account, region) like keys.  KMS operations:
CreateCustomKeyStore (DISCONNECTED at first), DescribeCustomKeyStores (all,
or one by CustomKeyStoreId or CustomKeyStoreName; paginated; an unknown one
is CustomKeyStoreNotFoundException), ConnectCustomKeyStore (-> CONNECTED at
once, its keys Enabled again) and DisconnectCustomKeyStore (-> DISCONNECTED,
its keys Unavailable).  CreateKey with a CustomKeyStoreId creates a key in a
CONNECTED store (Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE).

Control API (kmsemu.Control dispatches here):
    GET  /_emu/keystores             every store
    POST /_emu/keystores             seed one: {"account"?, "region"?,
                                      CustomKeyStoreId?, CustomKeyStoreName,
                                      CustomKeyStoreType?, ConnectionState?,
                                      ConnectionErrorCode?}
    POST /_emu/keystores/ID/update   {ConnectionState?, ConnectionErrorCode?,
                                      "keys": "Unavailable"|"Enabled"?}:
                                     the store's state as KMS reports it;
                                     its keys change only when "keys" says
                                     so (a store can fail before its keys
                                     turn Unavailable)
"""

import secrets
import types

K = None    # kmsemu's namespace, see bind()

STATES = ("CONNECTED", "CONNECTING", "FAILED", "DISCONNECTED",
          "DISCONNECTING")
TYPES = ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")


def bind(ns):
    global K
    K = types.SimpleNamespace(**ns)


def _stores(emu, account, region):
    if not hasattr(emu, "keystores"):
        emu.keystores = {}
    return emu.keystores.setdefault((account, region), {})


def _new_store(emu, account, region, spec):
    stores = _stores(emu, account, region)
    name = spec.get("CustomKeyStoreName")
    if not name:
        raise K.KMSError("ValidationException",
                         "CustomKeyStoreName is required")
    if any(s["CustomKeyStoreName"] == name for s in stores.values()):
        raise K.KMSError("CustomKeyStoreNameInUseException",
                         "Custom key store name %s is in use." % name)
    kind = spec.get("CustomKeyStoreType") or "AWS_CLOUDHSM"
    if kind not in TYPES:
        raise ValueError("CustomKeyStoreType: one of %s" % ", ".join(TYPES))
    sid = spec.get("CustomKeyStoreId") or "cks-" + secrets.token_hex(9)[:17]
    st = {"CustomKeyStoreId": sid, "CustomKeyStoreName": name,
          "CustomKeyStoreType": kind,
          "ConnectionState": spec.get("ConnectionState", "DISCONNECTED"),
          "CreationDate": emu.now()}
    if st["ConnectionState"] not in STATES:
        raise ValueError("ConnectionState: one of %s" % ", ".join(STATES))
    if spec.get("ConnectionErrorCode"):
        st["ConnectionErrorCode"] = spec["ConnectionErrorCode"]
    if kind == "AWS_CLOUDHSM":
        st["CloudHsmClusterId"] = spec.get("CloudHsmClusterId") or \
            "cluster-" + secrets.token_hex(6)[:11]
        st["TrustAnchorCertificate"] = spec.get(
            "TrustAnchorCertificate") or "-----BEGIN CERTIFICATE-----"
    else:
        st["XksProxyConfiguration"] = {
            "Connectivity": spec.get("XksProxyConnectivity",
                                     "PUBLIC_ENDPOINT"),
            "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
            "UriEndpoint": spec.get("XksProxyUriEndpoint",
                                    "https://xks.example.com"),
            "UriPath": spec.get("XksProxyUriPath", "/kms/xks/v1")}
    stores[sid] = st
    return st


def _set_keys(emu, account, region, sid, state):
    for key in emu.store(account, region).values():
        if key.meta.get("CustomKeyStoreId") != sid:
            continue
        if state == "Unavailable" and key.state in ("Enabled", "Disabled"):
            key.enabled_before_store = key.state == "Enabled"
            key.set_state("Unavailable")
        elif state == "Enabled" and key.state == "Unavailable":
            was = getattr(key, "enabled_before_store", True)
            key.set_state("Enabled" if was else "Disabled")


def _view(st):
    out = {k: v for k, v in st.items() if v is not None}
    out["CreationDate"] = K.ts(st["CreationDate"])
    if st["ConnectionState"] != "FAILED":
        out.pop("ConnectionErrorCode", None)
    return out


def control(ctl, method, parts, doc, query):
    """/_emu/keystores..., or None when parts name something else."""
    if not parts or parts[0] != "keystores":
        return None
    emu = ctl.emu
    account = str(doc.get("account") or query.get("account") or
                  K.DEFAULT_ACCOUNT)
    region = doc.get("region") or query.get("region") or K.DEFAULT_REGION
    with emu.lock:
        if len(parts) == 1 and method == "POST":
            spec = {k: v for k, v in doc.items()
                    if k not in ("account", "region")}
            return 200, _view(_new_store(emu, account, region, spec))
        if len(parts) == 1:
            return 200, {"keystores": [
                dict(_view(s), account=a, region=r)
                for (a, r), ss in getattr(emu, "keystores", {}).items()
                for s in ss.values()]}
        if len(parts) == 3 and parts[2] == "update" and method == "POST":
            st = _stores(emu, account, region).get(parts[1])
            if st is None:
                return 404, {"error": "no custom key store %s in %s/%s"
                             % (parts[1], account, region)}
            if "ConnectionState" in doc:
                if doc["ConnectionState"] not in STATES:
                    raise ValueError("ConnectionState: one of %s"
                                     % ", ".join(STATES))
                st["ConnectionState"] = doc["ConnectionState"]
            if "ConnectionErrorCode" in doc:
                st["ConnectionErrorCode"] = doc["ConnectionErrorCode"]
            if doc.get("keys"):
                _set_keys(emu, account, region, parts[1], doc["keys"])
            return 200, _view(st)
    return 404, {"error": "no control endpoint %s %s"
                 % (method, "/".join(parts))}


class KeyStoreOps:
    """KMS operations of this module (mixed into kmsemu.KMS)."""

    def _keystore(self, c, p):
        stores = _stores(self.emu, c.account, c.region)
        sid, name = p.get("CustomKeyStoreId"), p.get("CustomKeyStoreName")
        for st in stores.values():
            if (sid is not None and st["CustomKeyStoreId"] == sid) or (
                    name is not None and st["CustomKeyStoreName"] == name):
                return st
        raise K.KMSError("CustomKeyStoreNotFoundException",
                         "Custom key store %s not found." % (sid or name))

    def CreateCustomKeyStore(self, c, p):
        self._identity_check(c, "kms:CreateCustomKeyStore", "*")
        st = _new_store(self.emu, c.account, c.region, p)
        return {"CustomKeyStoreId": st["CustomKeyStoreId"]}

    def DescribeCustomKeyStores(self, c, p):
        self._identity_check(c, "kms:DescribeCustomKeyStores", "*")
        if p.get("CustomKeyStoreId") and p.get("CustomKeyStoreName"):
            raise K.KMSError("ValidationException",
                             "Specify CustomKeyStoreId or "
                             "CustomKeyStoreName, not both.")
        if p.get("CustomKeyStoreId") or p.get("CustomKeyStoreName"):
            chosen = [self._keystore(c, p)]
        else:
            chosen = sorted(_stores(self.emu, c.account, c.region).values(),
                            key=lambda s: s["CustomKeyStoreId"])
        items = [_view(s) for s in chosen]
        page, extra = self._paginate(p, "keystores", items,
                                     lambda s: s["CustomKeyStoreId"], 1000,
                                     1000)
        out = {"CustomKeyStores": page}
        out.update(extra)
        return out

    def ConnectCustomKeyStore(self, c, p):
        self._identity_check(c, "kms:ConnectCustomKeyStore", "*")
        st = self._keystore(c, p)
        if st["ConnectionState"] not in ("DISCONNECTED", "FAILED"):
            raise K.KMSError("CustomKeyStoreInvalidStateException",
                             "Custom key store %s is %s."
                             % (st["CustomKeyStoreId"],
                                st["ConnectionState"]))
        st["ConnectionState"] = "CONNECTED"
        st.pop("ConnectionErrorCode", None)
        _set_keys(self.emu, c.account, c.region, st["CustomKeyStoreId"],
                  "Enabled")
        return {}

    def DisconnectCustomKeyStore(self, c, p):
        self._identity_check(c, "kms:DisconnectCustomKeyStore", "*")
        st = self._keystore(c, p)
        if st["ConnectionState"] == "DISCONNECTED":
            raise K.KMSError("CustomKeyStoreInvalidStateException",
                             "Custom key store %s is DISCONNECTED."
                             % st["CustomKeyStoreId"])
        st["ConnectionState"] = "DISCONNECTED"
        st.pop("ConnectionErrorCode", None)
        _set_keys(self.emu, c.account, c.region, st["CustomKeyStoreId"],
                  "Unavailable")
        return {}

    def _store_for_new_key(self, c, p, origin):
        """CreateKey in a custom key store: the store's id, or raises."""
        st = self._keystore(c, p)
        want = ("AWS_CLOUDHSM" if st["CustomKeyStoreType"] == "AWS_CLOUDHSM"
                else "EXTERNAL_KEY_STORE")
        if origin != want:
            raise K.KMSError("UnsupportedOperationException",
                             "Origin %s does not match custom key store "
                             "type %s." % (origin, st["CustomKeyStoreType"]))
        if st["ConnectionState"] != "CONNECTED":
            raise K.KMSError("CustomKeyStoreInvalidStateException",
                             "Custom key store %s is not connected."
                             % st["CustomKeyStoreId"])
        return st["CustomKeyStoreId"]

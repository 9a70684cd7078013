"""A small client for kmsemu's control API (/_emu/...).

Standard library only, so tests, the demo and the benchmark can use it
without botocore.  Every method returns the decoded JSON answer; a control
API error raises EmuError.  Key arguments accept a key id, key ARN or alias
name; account/region default to the emulator's (111122223333, us-east-1).
"""

import json
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_ACCESS_KEY = "AKIDEXAMPLE"
DEFAULT_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DEFAULT_REGION = "us-east-1"


class EmuError(Exception):
    def __init__(self, status, message):
        super().__init__("kmsemu control API: HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message


class EmuClient:
    def __init__(self, base_url, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # -- transport ----------------------------------------------------------
    def call(self, method, path, doc=None, query=None):
        url = self.base_url + "/_emu/" + path.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None})
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type":
                                              "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                msg = json.loads(body).get("error", body)
            except ValueError:
                msg = body
            raise EmuError(e.code, msg) from None
        return json.loads(body) if body else {}

    def _post(self, path, doc=None, query=None):
        return self.call("POST", path, doc if doc is not None else {}, query)

    def _get(self, path, query=None):
        return self.call("GET", path, None, query)

    @staticmethod
    def _quote(ident):
        return urllib.parse.quote(ident, safe="")

    # -- whole emulator -----------------------------------------------------
    def reset(self, seed=None):
        """Forget everything (keys, accounts, faults, log, clock, config)."""
        return self._post("reset", seed or {})

    def health(self):
        return self._get("health")

    def state(self):
        return self._get("state")

    def seed(self, doc):
        """Apply a seed document (same shape as the --seed file)."""
        return self._post("seed", doc)

    def config(self, **items):
        """Set config items (error_type_style, error_message_field,
        aws_managed_aliases,
        skew_check, cred_lifetime, strict_roles, web_identity_tokens,
        imds_role, imds_account, imds_region, imds_v1, container_token,
        container_role_arn, log_signature_failures); returns the config."""
        if not items:
            return self._get("config")
        return self._post("config", items)

    # -- accounts and credentials --------------------------------------------
    def add_account(self, account, access_key_id=None, secret_access_key=None,
                    arn=None, deny_actions=None, allow_actions=None):
        """Add long-term credentials for account; returns AccessKeyId,
        SecretAccessKey, Account, Arn (generated when not given)."""
        return self._post("accounts", {
            "account": account, "access_key_id": access_key_id,
            "secret_access_key": secret_access_key, "arn": arn,
            "deny_actions": deny_actions, "allow_actions": allow_actions})

    def accounts(self):
        return self._get("accounts")["credentials"]

    def add_role(self, arn, trust=None, web_identity_tokens=None,
                 web_identity=True, deny_actions=None, allow_actions=None):
        """Register a role.  trust: principals allowed to AssumeRole it
        (account ids, ARNs, "*"; None = anyone)."""
        return self._post("roles", {
            "arn": arn, "trust": trust,
            "web_identity_tokens": web_identity_tokens,
            "web_identity": web_identity, "deny_actions": deny_actions,
            "allow_actions": allow_actions})

    def issue_credentials(self, role_arn=None, lifetime=None,
                          session_name="kmsemu"):
        """Temporary credentials as STS would issue them: AccessKeyId,
        SecretAccessKey, SessionToken, Expiration (epoch, emulator clock)."""
        return self._post("credentials", {"role_arn": role_arn,
                                          "lifetime": lifetime,
                                          "session_name": session_name})

    def set_cred_lifetime(self, seconds):
        """Lifetime of every credential issued from now on (None: default)."""
        return self.config(cred_lifetime=seconds)

    # -- keys -----------------------------------------------------------------
    def seed_key(self, account=DEFAULT_ACCOUNT, region=DEFAULT_REGION,
                 **metadata):
        """Create a key with any KeyMetadata fields (KeyState, Origin,
        ValidTo, ExpirationModel, MultiRegion, KeySpec, KeyManager,
        DeletionDate, PendingDeletionWindowInDays, ...) plus Policy (text or
        dict), Aliases, ReplicaRegions, KeyRotationEnabled,
        RotationPeriodInDays, NextRotationDate, Grants, Tags.
        Returns KeyMetadata."""
        doc = dict(metadata, account=account, region=region)
        return self._post("keys", doc)["KeyMetadata"]

    create_key = seed_key

    def key(self, key, account=None, region=None):
        """Internal view: KeyMetadata, Policy, rotation, grants, tags."""
        return self._get("keys/" + self._quote(key),
                         {"account": account, "region": region})

    def keys(self, account=None, region=None):
        return self._get("keys", {"account": account,
                                  "region": region})["keys"]

    def update_key(self, key, account=None, region=None, **fields):
        """Change metadata of an existing key (e.g. KeyState="Unavailable",
        Policy=..., ValidTo=...).  Returns KeyMetadata."""
        doc = dict(fields)
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keys/%s/update" % self._quote(key),
                          doc)["KeyMetadata"]

    def set_policy(self, key, policy, account=None, region=None):
        return self.update_key(key, account, region, Policy=policy)

    def delete_key(self, key, account=None, region=None):
        """Delete a key (and its aliases) at once, as if its waiting
        period had ended."""
        doc = {}
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keys/%s/delete" % self._quote(key), doc)

    def add_replica(self, key, region, account=None):
        doc = {"region": region}
        if account:
            doc["account"] = account
        return self._post("keys/%s/replicas" % self._quote(key),
                          doc)["KeyMetadata"]

    def rotate(self, key, account=None, region=None, type="AUTOMATIC"):
        """Rotate key material now (new CurrentKeyMaterialId)."""
        doc = {"type": type}
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keys/%s/rotate" % self._quote(key),
                          doc)["KeyMetadata"]

    def set_usage(self, key, account=None, region=None, **doc):
        """What GetKeyLastUsage says (emu_usage.control): Operation and
        Timestamp of a use, clear=True, TrackingStartDate."""
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keys/%s/usage" % self._quote(key), doc)

    def create_alias(self, alias_name, target_key_id, account=DEFAULT_ACCOUNT,
                     region=DEFAULT_REGION):
        return self._post("aliases", {"AliasName": alias_name,
                                      "TargetKeyId": target_key_id,
                                      "account": account, "region": region})

    def delete_alias(self, alias_name, account=DEFAULT_ACCOUNT,
                     region=DEFAULT_REGION):
        return self._post("aliases/delete", {"AliasName": alias_name,
                                             "account": account,
                                             "region": region})

    def aliases(self):
        return self._get("aliases")["aliases"]

    # -- clock ------------------------------------------------------------
    def clock(self):
        """{"now": epoch, "offset": s, "iso": ..., "skew_check": ...}"""
        return self._get("clock")

    def now(self):
        return self.clock()["now"]

    def set_clock(self, t):
        """Set the emulator clock (epoch seconds or ISO 8601); it keeps
        ticking from there.  Timed events (deletion, expiry, rotation)
        happen at once."""
        return self._post("clock", {"now": t})

    def advance(self, seconds):
        return self._post("clock", {"advance": seconds})

    def reset_clock(self):
        return self._post("clock", {"reset": True})

    def skew_check(self, mode):
        """What SigV4 request times are checked against: "emulator" (the
        default), "real" (wall clock; use it when the emulator clock was
        moved but clients sign with the real time) or "off"."""
        return self._post("clock", {"skew_check": mode})

    # -- faults -----------------------------------------------------------
    def fault(self, action="error", operation="*", count=None, duration=None,
              status=None, code=None, message=None, latency=None, size=None,
              service=None, key_id=None, account=None, body=None,
              content_type=None, headers=None):
        """Inject a fault; returns its id.

        action: error (status+code+message), latency (delay, then serve
        normally), reset (TCP RST), close (FIN without a response),
        malformed (200 with broken JSON), truncated (Content-Length larger
        than the body sent), oversized (200 with a huge JSON body, size
        bytes, default 50 MiB), html502 (an nginx-style HTML 502 page),
        raw (status, default 500, with body, content_type and headers as
        given).
        operation: a KMS operation name, AssumeRole..., IMDS, Container or
        "*" (with service kms unless service is given: kms, sts, imds,
        container or "*").  count: next N matching requests (default 1);
        duration: seconds of wall time (without count: every request).
        latency also delays any other action."""
        spec = {"action": action, "operation": operation}
        for k, v in (("count", count), ("duration", duration),
                     ("status", status), ("code", code),
                     ("message", message), ("latency", latency),
                     ("size", size), ("service", service),
                     ("key_id", key_id), ("account", account),
                     ("body", body), ("content_type", content_type),
                     ("headers", headers)):
            if v is not None:
                spec[k] = v
        return self._post("faults", spec)["id"]

    def throttle(self, operation="*", count=1, duration=None):
        return self.fault("error", operation, count=count, duration=duration,
                          status=400, code="ThrottlingException",
                          message="Rate exceeded")

    def faults(self):
        return self._get("faults")["faults"]

    def clear_faults(self):
        return self.call("DELETE", "faults")

    # -- request log and counters -----------------------------------------
    def requests(self, since=0, operation=None, service=None):
        """Request log entries: seq, time, real_time, service, operation,
        method, path, access_key, account, caller, region,
        signature_valid, status, error, fault, key_id, duration_ms,
        received_at and answered_at (unrounded real time: the request had
        been read; the answer's first byte not yet written, or None)."""
        return self._get("requests", {"since": since, "operation": operation,
                                      "service": service})["requests"]

    def clear_requests(self):
        return self.call("DELETE", "requests")

    def counters(self):
        """total, by_service, by_operation, by_status, by_error,
        signature_invalid, faults_injected."""
        return self._get("counters")

    def clear_counters(self):
        return self.call("DELETE", "counters")

    # -- key materials and custom key stores (emu_material, emu_keystore) --
    def set_materials(self, key, materials, account=None, region=None):
        """Replace the key materials of an imported (EXTERNAL) key: a list
        of {KeyMaterialId?, ImportState?, KeyMaterialState?,
        ExpirationModel?, ValidTo?, ...}.  Returns {KeyMetadata,
        Materials}."""
        doc = {"materials": list(materials)}
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keys/%s/materials" % self._quote(key), doc)

    def update_material(self, key, material_id, account=None, region=None,
                        **fields):
        """Change one material (ImportState, ValidTo, ...)."""
        doc = dict(fields, KeyMaterialId=material_id)
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keys/%s/materials" % self._quote(key), doc)

    def add_keystore(self, name, account=None, region=None, **fields):
        """Seed a custom key store; returns its DescribeCustomKeyStores
        entry (CustomKeyStoreId, ConnectionState, ...)."""
        doc = dict(fields, CustomKeyStoreName=name)
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keystores", doc)

    def update_keystore(self, store_id, account=None, region=None,
                        **fields):
        """ConnectionState, ConnectionErrorCode, keys ("Unavailable" or
        "Enabled": move the store's keys too)."""
        doc = dict(fields)
        if account:
            doc["account"] = account
        if region:
            doc["region"] = region
        return self._post("keystores/%s/update" % self._quote(store_id), doc)

    def keystores(self):
        return self._get("keystores")["keystores"]

#!/usr/bin/python3
"""kmsemu: an AWS KMS emulator for keyhealthd's tests, benchmark and demo.

One HTTP/1.1 server (keep-alive, threaded) on loopback serves:
  POST /  with X-Amz-Target: TrentService.<Op>   KMS, JSON 1.1, SigV4 checked
  POST /  form body Action=...                    STS (query protocol, XML)
  /latest/...                                     IMDSv2
  /_creds/container/<id>                          container credentials
  /_emu/...                                       control API (JSON)
See README beside this file.  Standard library plus python3-botocore only.
"""

import argparse
import base64
import bisect
import collections
import datetime
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import secrets
import signal
import socket
import string
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmsmodel  # noqa: E402
import emu_keystore  # noqa: E402
import emu_material  # noqa: E402
import emu_usage  # noqa: E402
import emu_grants  # noqa: E402
import emu_replicas  # noqa: E402

import botocore.model  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_ACCESS_KEY = "AKIDEXAMPLE"
DEFAULT_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DEFAULT_REGION = "us-east-1"
MAX_SKEW = 300
MAX_BODY = 1 << 20
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SIGV4_FMT = "%Y%m%dT%H%M%SZ"
REQUEST_LOG_MAX = 200000

MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details.")
MSG_BAD_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"

UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MRK_RE = re.compile(r"^mrk-[0-9a-f]{32}$")
KMS_ARN_RE = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):kms:([a-z0-9-]+):"
    r"(\d{12}):(key|alias)/(.+)$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
ROLE_ARN_RE = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?"
    r"([\w+=,.@-]{1,64})$")
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$")
ALIAS_NAME_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")

STATE_WORDS = {
    "Enabled": "enabled", "Disabled": "disabled",
    "PendingDeletion": "pending deletion",
    "PendingImport": "pending import",
    "PendingReplicaDeletion": "pending replica deletion",
    "Unavailable": "unavailable", "Creating": "creating",
    "Updating": "updating",
}
KEY_STATES = set(STATE_WORDS)

AWS_MANAGED_ALIASES = ("alias/aws/dynamodb", "alias/aws/ebs",
                       "alias/aws/rds", "alias/aws/s3")

# Operations KMS serves for keys of another account (with the key policy
# allowing the caller); everything else is same-account only.
CROSS_ACCOUNT_OPS = {"DescribeKey", "GetKeyRotationStatus", "CreateGrant",
                     "ListGrants", "RevokeGrant"}

ERROR_STATUS = {"KMSInternalException": 500,
                "DependencyTimeoutException": 503}

RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
               "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256",
               "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]


def spec_algorithms(spec, usage):
    """Return the KeyMetadata algorithm members for a KeySpec/KeyUsage."""
    if spec == "SYMMETRIC_DEFAULT":
        return {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}
    if spec.startswith("HMAC_"):
        return {"MacAlgorithms": ["HMAC_SHA_" + spec[5:]]}
    if spec.startswith("RSA_"):
        if usage == "SIGN_VERIFY":
            return {"SigningAlgorithms": list(RSA_SIGNING)}
        return {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1",
                                         "RSAES_OAEP_SHA_256"]}
    if spec == "SM2":
        if usage == "SIGN_VERIFY":
            return {"SigningAlgorithms": ["SM2DSA"]}
        return {"EncryptionAlgorithms": ["SM2PKE"]}
    bits = {"ECC_NIST_P256": "256", "ECC_NIST_P384": "384",
            "ECC_NIST_P521": "512", "ECC_SECG_P256K1": "256"}.get(spec, "256")
    return {"SigningAlgorithms": ["ECDSA_SHA_" + bits]}


def spec_usages(spec):
    if spec == "SYMMETRIC_DEFAULT":
        return ["ENCRYPT_DECRYPT"]
    if spec.startswith("HMAC_"):
        return ["GENERATE_VERIFY_MAC"]
    if spec.startswith("RSA_") or spec == "SM2":
        return ["ENCRYPT_DECRYPT", "SIGN_VERIFY"]
    return ["SIGN_VERIFY"]


def partition_of(region):
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def iso8601(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def amzdate(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime(SIGV4_FMT)


def ts(t):
    """KMS timestamps: epoch seconds with milliseconds."""
    return round(float(t), 3)


def parse_time(v):
    """Epoch seconds (number or numeric string) or ISO 8601 text."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("bad time %r" % (v,))
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    try:
        return float(s)
    except ValueError:
        pass
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    d = datetime.datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def default_policy(account, partition="aws"):
    # The text KMS stores for a key created without a policy, formatted as
    # GetKeyPolicy returns it.
    return ('{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n'
            '  "Statement" : [ {\n'
            '    "Sid" : "Enable IAM User Permissions",\n'
            '    "Effect" : "Allow",\n'
            '    "Principal" : {\n'
            '      "AWS" : "arn:%s:iam::%s:root"\n'
            '    },\n'
            '    "Action" : "kms:*",\n'
            '    "Resource" : "*"\n'
            '  } ]\n}') % (partition, account)


def lower_camel(name):
    return name[:1].lower() + name[1:]


def random_akid(prefix):
    alphabet = string.ascii_uppercase + "234567"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


def random_secret():
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


class KMSError(Exception):
    def __init__(self, code, message=None, status=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.status = status or ERROR_STATUS.get(code, 400)


class STSError(Exception):
    def __init__(self, code, message, status=400, kind="Sender"):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.status = status
        self.kind = kind


# ---------------------------------------------------------------------------
# Request validation against the service model

class Validator:
    """Checks input against botocore's KMS model, with KMS's messages."""

    def __init__(self, service_model):
        self.sm = service_model

    def validate(self, op, params):
        shape = self.sm.operation_model(op).input_shape
        if not isinstance(params, dict):
            raise KMSError("SerializationException",
                           "Start of structure or map found where not "
                           "expected.")
        errors = []
        if shape is not None:
            self._check(shape, params, "", errors)
        if errors:
            n = len(errors)
            raise KMSError(
                "ValidationException",
                "%d validation error%s detected: %s" % (
                    n, "s" if n > 1 else "", "; ".join(errors)))

    @staticmethod
    def _render(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "'%s'" % ("true" if v else "false")
        if isinstance(v, list):
            return "'[%s]'" % ", ".join(str(x) for x in v)
        return "'%s'" % (v,)

    def _fail(self, errors, value, path, constraint):
        errors.append("Value %s at '%s' failed to satisfy constraint: %s"
                      % (self._render(value), path, constraint))

    def _serial(self, path, want):
        raise KMSError("SerializationException",
                       "Unexpected value type for '%s': expected %s"
                       % (path, want))

    def _check(self, shape, value, path, errors):
        t = shape.type_name
        md = shape.metadata
        if t == "structure":
            if not isinstance(value, dict):
                self._serial(path, "a structure")
            for name in shape.required_members:
                if value.get(name) is None:
                    p = (path + "." if path else "") + lower_camel(name)
                    self._fail(errors, None, p, "Member must not be null")
            for name, member in shape.members.items():
                if name in value and value[name] is not None:
                    p = (path + "." if path else "") + lower_camel(name)
                    self._check(member, value[name], p, errors)
        elif t == "string":
            if not isinstance(value, str):
                self._serial(path, "a string")
            enum = shape.enum
            if enum and value not in enum:
                self._fail(errors, value, path,
                           "Member must satisfy enum value set: [%s]"
                           % ", ".join(enum))
                return
            if "min" in md and len(value) < md["min"]:
                self._fail(errors, value, path,
                           "Member must have length greater than or equal "
                           "to %d" % md["min"])
            if "max" in md and len(value) > md["max"]:
                self._fail(errors, value, path,
                           "Member must have length less than or equal to %d"
                           % md["max"])
            pat = md.get("pattern")
            if pat:
                rx = _compiled_pattern(pat)
                if rx is not None and not rx.fullmatch(value):
                    self._fail(errors, value, path,
                               "Member must satisfy regular expression "
                               "pattern: %s" % pat)
        elif t in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    self._serial(path, "an integer")
            if "min" in md and value < md["min"]:
                self._fail(errors, value, path,
                           "Member must have value greater than or equal "
                           "to %d" % md["min"])
            if "max" in md and value > md["max"]:
                self._fail(errors, value, path,
                           "Member must have value less than or equal to %d"
                           % md["max"])
        elif t == "boolean":
            if not isinstance(value, bool):
                self._serial(path, "a boolean")
        elif t == "list":
            if not isinstance(value, list):
                self._serial(path, "a list")
            if "min" in md and len(value) < md["min"]:
                self._fail(errors, value, path,
                           "Member must have length greater than or equal "
                           "to %d" % md["min"])
            if "max" in md and len(value) > md["max"]:
                self._fail(errors, value, path,
                           "Member must have length less than or equal to %d"
                           % md["max"])
            for i, item in enumerate(value):
                if item is None:
                    continue
                self._check(shape.member, item, "%s.%d.member" % (path, i + 1),
                            errors)
        elif t == "map":
            if not isinstance(value, dict):
                self._serial(path, "a map")
            for k, v in value.items():
                self._check(shape.key, k, path + ".key", errors)
                if v is not None:
                    self._check(shape.value, v, path + ".value", errors)
        elif t == "blob":
            if not isinstance(value, str):
                self._serial(path, "a base64 string")
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError):
                self._serial(path, "a base64 string")
        elif t in ("timestamp", "double", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._serial(path, "a number")


_PATTERNS = {}


def _compiled_pattern(pat):
    if pat not in _PATTERNS:
        try:
            _PATTERNS[pat] = re.compile(pat)
        except re.error:
            _PATTERNS[pat] = None
    return _PATTERNS[pat]


# ---------------------------------------------------------------------------
# Key policies: just enough of IAM's semantics for cross-account access.

def _wild(pattern, value):
    rx = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(rx, value, re.IGNORECASE) is not None


def _as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class Caller:
    """Who signed a request (derived from the access key)."""

    def __init__(self, akid, account, arn, role_arn=None, deny=None,
                 allow=None, kind="static", user_id=None):
        self.akid = akid
        self.account = account
        self.arn = arn
        self.role_arn = role_arn
        self.deny = deny or []
        self.allow = allow
        self.kind = kind
        self.user_id = user_id or akid
        self.region = DEFAULT_REGION

    def principal_matches(self, value):
        if value == "*":
            return True
        if not isinstance(value, str):
            return False
        part = partition_of(self.region)
        if value in (self.account, "arn:%s:iam::%s:root" % (part, self.account)):
            return True
        if value == self.arn or (self.role_arn and value == self.role_arn):
            return True
        return False


def policy_allows(policy_text, caller, action):
    """Evaluate a key policy for caller and action (e.g. "kms:DescribeKey").

    Statements with a Condition are skipped: the emulator does not know the
    request context a condition would test (kms:GrantIsForAWSResource is
    never true for a direct call), so they neither allow nor deny.
    """
    try:
        doc = json.loads(policy_text)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    allowed = False
    for st in _as_list(doc.get("Statement")):
        if not isinstance(st, dict) or "Condition" in st:
            continue
        if "Principal" in st:
            p = st["Principal"]
            if p == "*":
                pm = True
            elif isinstance(p, dict):
                pm = any(caller.principal_matches(v)
                         for v in _as_list(p.get("AWS")))
            else:
                pm = False
        elif "NotPrincipal" in st:
            p = st["NotPrincipal"]
            vals = _as_list(p.get("AWS")) if isinstance(p, dict) else []
            pm = not any(caller.principal_matches(v) for v in vals)
        else:
            pm = False
        if not pm:
            continue
        if "Action" in st:
            am = any(isinstance(a, str) and _wild(a, action)
                     for a in _as_list(st["Action"]))
        elif "NotAction" in st:
            am = not any(isinstance(a, str) and _wild(a, action)
                         for a in _as_list(st["NotAction"]))
        else:
            am = False
        if not am:
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


# ---------------------------------------------------------------------------
# Keys

class Key:
    def __init__(self, account, region, meta, policy):
        self.account = account
        self.region = region
        self.meta = meta
        self.policy = policy
        self.rotation_enabled = False
        self.rotation_period = None
        self.next_rotation = None
        self.on_demand_rotations = 0
        self.rotations = []
        self.grants = []
        self.tags = []
        self.delete_at = None

    @property
    def id(self):
        return self.meta["KeyId"]

    @property
    def arn(self):
        return self.meta["Arn"]

    @property
    def state(self):
        return self.meta["KeyState"]

    def set_state(self, state):
        self.meta["KeyState"] = state
        self.meta["Enabled"] = state == "Enabled"

    def describe(self):
        out = {}
        for k, v in self.meta.items():
            if v is None:
                continue
            if k in ("CreationDate", "DeletionDate", "ValidTo"):
                v = ts(v)
            out[k] = v
        return json.loads(json.dumps(out))

    def view(self):
        """Internal view for the control API."""
        return {
            "account": self.account, "region": self.region,
            "KeyMetadata": self.describe(), "Policy": self.policy,
            "KeyRotationEnabled": self.rotation_enabled,
            "RotationPeriodInDays": self.rotation_period,
            "NextRotationDate": (ts(self.next_rotation)
                                 if self.next_rotation else None),
            "Rotations": [dict(r, RotationDate=ts(r["RotationDate"]))
                          for r in self.rotations],
            "Grants": [dict(g, CreationDate=ts(g["CreationDate"]))
                       for g in self.grants],
            "Tags": self.tags,
        }


# ---------------------------------------------------------------------------
# Faults

FAULT_ACTIONS = {"error", "latency", "reset", "malformed", "truncated",
                 "oversized", "html502", "close", "raw"}


class Fault:
    _ids = itertools.count(1)

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        self.id = next(Fault._ids)
        self.action = spec.get("action", "error")
        if self.action not in FAULT_ACTIONS:
            raise ValueError("unknown fault action %r (one of %s)"
                             % (self.action, ", ".join(sorted(FAULT_ACTIONS))))
        self.operation = spec.get("operation") or "*"
        self.service = spec.get("service") or (
            "kms" if self.operation == "*" else "*")
        self.key_id = spec.get("key_id")
        self.account = spec.get("account")
        self.count = spec.get("count")
        self.duration = spec.get("duration")
        if self.count is None and self.duration is None:
            self.count = 1
        if self.count is not None and (not isinstance(self.count, int)
                                       or self.count < 1):
            raise ValueError("count must be a positive integer")
        self.until = (time.monotonic() + float(self.duration)
                      if self.duration is not None else None)
        self.status = int(spec.get("status") or (
            502 if self.action == "html502" else 400))
        self.code = spec.get("code") or "ThrottlingException"
        self.message = spec.get("message")
        if self.message is None and self.code == "ThrottlingException":
            self.message = "Rate exceeded"
        self.latency = float(spec.get("latency") or 0)
        self.size = int(spec.get("size") or 50 * 1024 * 1024)
        self.body = spec.get("body", "")
        self.content_type = spec.get("content_type", "text/plain")
        self.headers = dict(spec.get("headers") or {})
        if self.action == "raw" and "status" not in spec:
            self.status = 500
        self.fired = 0
        self.spec = dict(spec)

    def expired(self):
        if self.count is not None and self.fired >= self.count:
            return True
        return self.until is not None and time.monotonic() >= self.until

    def matches(self, service, operation, key_id, account):
        if self.service not in ("*", service):
            return False
        if self.operation not in ("*", operation):
            return False
        if self.key_id and (not key_id or self.key_id not in key_id):
            return False
        if self.account and self.account != account:
            return False
        return True

    def view(self):
        left = None
        if self.until is not None:
            left = max(0.0, round(self.until - time.monotonic(), 3))
        return {"id": self.id, "action": self.action,
                "operation": self.operation, "service": self.service,
                "key_id": self.key_id, "account": self.account,
                "count": self.count, "fired": self.fired,
                "seconds_left": left, "status": self.status,
                "code": self.code, "message": self.message,
                "latency": self.latency, "size": self.size}


# ---------------------------------------------------------------------------
# The emulator state

DEFAULT_CONFIG = {
    "error_type_style": "bare",        # or "namespaced"
    "error_message_field": "message",  # or "Message"
    "aws_managed_aliases": True,
    "skew_check": "emulator",          # "emulator", "real" or "off"
    "cred_lifetime": None,             # seconds, overrides every issuer
    "strict_roles": False,
    "web_identity_tokens": None,       # None: any non-empty token
    "imds_role": "kmsemu-instance-role",
    "imds_account": DEFAULT_ACCOUNT,
    "imds_region": DEFAULT_REGION,
    "imds_v1": False,
    "container_token": None,
    "container_role_arn":
        "arn:aws:iam::%s:role/kmsemu-container-role" % DEFAULT_ACCOUNT,
    "log_signature_failures": True,
    # Items per page of every List* answer at most (KMS may return fewer
    # than Limit): small pages make clients page.  None: the API's caps.
    "list_page_size": None,
    "grants_page_size": None,          # ListGrants pages at most this long
    "grants_reverse": False,           # ListGrants newest first
}


class Emulator:
    def __init__(self, verbose=False):
        self.lock = threading.RLock()
        self.unlogged = 0      # requests answered, not yet logged
        self.verbose = verbose
        model = kmsmodel.load()
        self.service_model = botocore.model.ServiceModel(model, "kms")
        self.operations = set(model["operations"])
        self.validator = Validator(self.service_model)
        self.reset()
        self.kms = KMS(self)
        self.sts = STS(self)

    # -- state ------------------------------------------------------------
    def reset(self):
        with self.lock:
            self.offset = 0.0
            self.config = dict(DEFAULT_CONFIG)
            self.creds = {}
            self.roles = {}
            self.keys = {}         # (account, region) -> {key id: Key}
            self.aliases = {}      # (account, region) -> {name: alias rec}
            self.keystores = {}    # (account, region) -> {id: store}
            self.faults = []
            self.log = collections.deque(maxlen=REQUEST_LOG_MAX)
            self.seq = 0
            self.counters = self._new_counters()
            self.imds_tokens = {}
            self.grant_tokens = {}  # GrantToken -> (account, region, key, id)
            self.next_event = float("inf")
            self.add_credentials(DEFAULT_ACCOUNT, DEFAULT_ACCESS_KEY,
                                 DEFAULT_SECRET_KEY)

    @staticmethod
    def _new_counters():
        return {"total": 0, "by_service": {}, "by_operation": {},
                "by_status": {}, "by_error": {}, "signature_invalid": 0,
                "faults_injected": 0}

    def now(self):
        return time.time() + self.offset

    def add_credentials(self, account, akid=None, secret=None, arn=None,
                        deny_actions=None, allow_actions=None):
        if not re.fullmatch(r"\d{12}", str(account)):
            raise ValueError("account must be 12 digits")
        akid = akid or random_akid("AKIA")
        secret = secret or random_secret()
        arn = arn or "arn:aws:iam::%s:user/kmsemu" % account
        with self.lock:
            self.creds[akid] = {
                "secret": secret, "account": str(account), "arn": arn,
                "token": None, "expires": None, "role_arn": None,
                "deny": list(deny_actions or []),
                "allow": (list(allow_actions)
                          if allow_actions is not None else None),
                "kind": "static"}
        return {"AccessKeyId": akid, "SecretAccessKey": secret,
                "Account": str(account), "Arn": arn}

    def issue_temporary(self, role_arn, session_name="kmsemu", lifetime=None,
                        caller=None):
        m = ROLE_ARN_RE.match(role_arn)
        if not m:
            raise ValueError("bad role ARN %r" % role_arn)
        account, role_name = m.group(2), m.group(3)
        if self.config["cred_lifetime"] is not None:
            lifetime = self.config["cred_lifetime"]
        lifetime = float(lifetime if lifetime is not None else 3600)
        akid = random_akid("ASIA")
        secret = random_secret()
        token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(
            secrets.token_bytes(180)).decode()
        with self.lock:
            expires = self.now() + lifetime
            role = self.roles.get(role_arn, {})
            self.creds[akid] = {
                "secret": secret, "account": account,
                "arn": "arn:%s:sts::%s:assumed-role/%s/%s" % (
                    m.group(1), account, role_name, session_name),
                "token": token, "expires": expires, "role_arn": role_arn,
                "deny": list(role.get("deny_actions") or []),
                "allow": (list(role["allow_actions"])
                          if role.get("allow_actions") is not None else None),
                "kind": "temporary",
                "user_id": "AROA%s:%s" % (
                    hashlib.sha1(role_arn.encode()).hexdigest()[:17].upper(),
                    session_name)}
        return {"AccessKeyId": akid, "SecretAccessKey": secret,
                "SessionToken": token, "Expiration": expires,
                "ExpirationISO": iso8601(expires),
                "Arn": self.creds[akid]["arn"], "Account": account,
                "UserId": self.creds[akid]["user_id"]}

    def caller_for(self, akid):
        c = self.creds[akid]
        return Caller(akid, c["account"], c["arn"], c["role_arn"], c["deny"],
                      c["allow"], c["kind"], c.get("user_id"))

    def store(self, account, region):
        return self.keys.setdefault((account, region), {})

    def alias_store(self, account, region):
        return self.aliases.setdefault((account, region), {})

    # -- clock-driven events ---------------------------------------------------
    def touch(self):
        """Something changed that may create a timed event: rescan."""
        self.next_event = 0.0

    def sweep(self):
        """Apply every timed event due by the emulator clock."""
        with self.lock:
            now = self.now()
            if now < self.next_event:
                return
            nxt = float("inf")
            for (account, region), keys in list(self.keys.items()):
                for kid, key in list(keys.items()):
                    due = self._key_events(key, now)
                    if due == "delete":
                        self._delete_key(key)
                        continue
                    if due is not None:
                        nxt = min(nxt, due)
            self.next_event = nxt

    def _key_events(self, key, now):
        st = key.state
        m = key.meta
        if st == "PendingDeletion" and m.get("DeletionDate") is not None:
            if m["DeletionDate"] <= now:
                return "delete"
            return m["DeletionDate"]
        if st == "PendingReplicaDeletion" and key.delete_at is not None:
            if key.delete_at <= now:
                return "delete"
            return key.delete_at
        nxt = None
        if getattr(key, "materials", None) is not None:
            nxt = emu_material.expire(self, key, now)
        elif (m.get("ValidTo") is not None
                and m.get("ExpirationModel") == "KEY_MATERIAL_EXPIRES"
                and st in ("Enabled", "Disabled")):
            if m["ValidTo"] <= now:
                # KMS deletes expired imported material: the key waits for
                # new material.
                m["ValidTo"] = None
                m.pop("CurrentKeyMaterialId", None)
                key.set_state("PendingImport")
            else:
                nxt = m["ValidTo"]
        if (key.rotation_enabled and key.next_rotation is not None
                and key.state == "Enabled"):
            period = (key.rotation_period or 365) * 86400.0
            while key.next_rotation <= now:
                self._rotate(key, "AUTOMATIC", key.next_rotation)
                key.next_rotation += period
            nxt = key.next_rotation if nxt is None else min(
                nxt, key.next_rotation)
        return nxt

    def _rotate(self, key, kind, when):
        new = secrets.token_hex(32)
        key.meta["CurrentKeyMaterialId"] = new
        key.rotations.append({"KeyId": key.arn, "KeyMaterialId": new,
                              "RotationDate": when, "RotationType": kind})

    def _delete_key(self, key):
        keys = self.keys.get((key.account, key.region), {})
        keys.pop(key.id, None)
        aliases = self.aliases.get((key.account, key.region), {})
        for name in [n for n, a in aliases.items() if a["target"] == key.id]:
            del aliases[name]
        # Deleting a replica updates its primary's configuration.
        mrc = key.meta.get("MultiRegionConfiguration")
        if mrc:
            for k in self._mr_siblings(key):
                cfg = k.meta.get("MultiRegionConfiguration")
                if cfg:
                    cfg["ReplicaKeys"] = [r for r in cfg.get("ReplicaKeys", [])
                                          if r.get("Arn") != key.arn]

    def _mr_siblings(self, key):
        out = []
        for (account, region), keys in self.keys.items():
            if account == key.account and region != key.region:
                k = keys.get(key.id)
                if k is not None:
                    out.append(k)
        return out

    # -- key creation (CreateKey and the control API) ---------------------
    def new_key(self, account, region, spec="SYMMETRIC_DEFAULT",
                usage=None, origin="AWS_KMS", description="", multi=False,
                policy=None, key_id=None, manager="CUSTOMER"):
        usage = usage or spec_usages(spec)[0]
        if key_id is None:
            key_id = ("mrk-" + uuid.uuid4().hex) if multi else str(
                uuid.uuid4())
        part = partition_of(region)
        arn = "arn:%s:kms:%s:%s:key/%s" % (part, region, account, key_id)
        state = "PendingImport" if origin == "EXTERNAL" else "Enabled"
        meta = {
            "AWSAccountId": account, "KeyId": key_id, "Arn": arn,
            "CreationDate": self.now(), "Enabled": state == "Enabled",
            "Description": description or "", "KeyUsage": usage,
            "KeyState": state, "Origin": origin, "KeyManager": manager,
            "CustomerMasterKeySpec": spec, "KeySpec": spec,
        }
        meta.update(spec_algorithms(spec, usage))
        meta["MultiRegion"] = bool(multi)
        if multi:
            meta["MultiRegionConfiguration"] = {
                "MultiRegionKeyType": "PRIMARY",
                "PrimaryKey": {"Arn": arn, "Region": region},
                "ReplicaKeys": []}
        if spec == "SYMMETRIC_DEFAULT" and origin == "AWS_KMS":
            meta["CurrentKeyMaterialId"] = secrets.token_hex(32)
        key = Key(account, region, meta,
                  policy if policy is not None else default_policy(
                      account, part))
        self.store(account, region)[key_id] = key
        self.touch()
        return key

    # -- control API: seed a key with arbitrary metadata ------------------
    def seed_key(self, spec):
        spec = dict(spec)
        account = str(spec.pop("account", None) or spec.pop(
            "AWSAccountId", None) or DEFAULT_ACCOUNT)
        region = spec.pop("region", None) or DEFAULT_REGION
        if not REGION_RE.match(region):
            raise ValueError("bad region %r" % region)
        with self.lock:
            if "Arn" in spec:
                m = KMS_ARN_RE.match(spec["Arn"])
                if not m or m.group(4) != "key":
                    raise ValueError("bad key ARN %r" % spec["Arn"])
                account, region, spec["KeyId"] = (m.group(3), m.group(2),
                                                  m.group(5))
                spec.pop("Arn")
            kspec = spec.pop("KeySpec", None) or spec.pop(
                "CustomerMasterKeySpec", None) or "SYMMETRIC_DEFAULT"
            spec.pop("CustomerMasterKeySpec", None)
            multi = bool(spec.pop("MultiRegion", False))
            policy = spec.pop("Policy", None)
            if isinstance(policy, (dict, list)):
                policy = json.dumps(policy, indent=2)
            key_id = spec.pop("KeyId", None)
            if key_id is not None and key_id in self.store(account, region):
                raise ValueError("key %s already exists" % key_id)
            key = self.new_key(
                account, region, kspec, spec.pop("KeyUsage", None),
                spec.pop("Origin", "AWS_KMS"), spec.pop("Description", ""),
                multi, policy, key_id, spec.pop("KeyManager", "CUSTOMER"))
            try:
                self._apply_seed_fields(key, spec)
            except Exception:
                self.store(account, region).pop(key.id, None)
                raise
            self.touch()
            return key

    def _apply_seed_fields(self, key, spec, creating=True):
        m = key.meta
        aliases = spec.pop("Aliases", None) or []
        replicas = spec.pop("ReplicaRegions", None) or []
        rot = spec.pop("KeyRotationEnabled", None)
        period = spec.pop("RotationPeriodInDays", None)
        next_rot = spec.pop("NextRotationDate", None)
        grants = spec.pop("Grants", None) or []
        tags = spec.pop("Tags", None) or []
        state = spec.pop("KeyState", None)
        enabled = spec.pop("Enabled", None)
        for tfield in ("CreationDate", "DeletionDate", "ValidTo"):
            if tfield in spec:
                spec[tfield] = parse_time(spec[tfield])
        unknown = [k for k in spec
                   if k not in self.service_model.shape_for(
                       "KeyMetadata").members]
        if unknown:
            raise ValueError("unknown key fields: %s" % ", ".join(unknown))
        m.update(spec)
        if m["Origin"] == "EXTERNAL" and creating:
            if state is None:
                state = "Enabled" if m.get("ValidTo") or m.get(
                    "ExpirationModel") else "PendingImport"
            if state != "PendingImport" and not m.get("ExpirationModel"):
                m["ExpirationModel"] = ("KEY_MATERIAL_EXPIRES"
                                        if m.get("ValidTo") else
                                        "KEY_MATERIAL_DOES_NOT_EXPIRE")
            if state != "PendingImport" and "CurrentKeyMaterialId" not in spec:
                m["CurrentKeyMaterialId"] = secrets.token_hex(32)
        if state is not None:
            if state not in KEY_STATES:
                raise ValueError("unknown KeyState %r" % state)
            key.set_state(state)
        if enabled is not None:
            m["Enabled"] = bool(enabled)
        now = self.now()
        if key.state == "PendingDeletion" and m.get("DeletionDate") is None:
            m["DeletionDate"] = now + 30 * 86400
        if key.state == "PendingReplicaDeletion":
            days = m.get("PendingDeletionWindowInDays") or 30
            m["PendingDeletionWindowInDays"] = days
            key.delete_at = now + days * 86400
        if rot is not None:
            key.rotation_enabled = bool(rot)
        if key.rotation_enabled:
            key.rotation_period = int(period or 365)
            key.next_rotation = (parse_time(next_rot) if next_rot is not None
                                 else now + key.rotation_period * 86400)
        for g in grants:
            self._add_grant(key, g, key.account)
        key.tags = list(tags)
        for name in aliases:
            self.seed_alias(key.account, key.region, name, key.id)
        for r in replicas:
            self.add_replica(key, r)

    def add_replica(self, primary, region):
        if not primary.meta.get("MultiRegion"):
            raise ValueError("ReplicaRegions needs MultiRegion true")
        if region == primary.region:
            raise ValueError("replica region equals primary region")
        store = self.store(primary.account, region)
        if primary.id in store:
            raise ValueError("replica in %s exists" % region)
        meta = json.loads(json.dumps(primary.meta))
        part = partition_of(region)
        arn = "arn:%s:kms:%s:%s:key/%s" % (part, region, primary.account,
                                           primary.id)
        meta["Arn"] = arn
        meta["CreationDate"] = self.now()
        pcfg = primary.meta["MultiRegionConfiguration"]
        pcfg.setdefault("ReplicaKeys", []).append(
            {"Arn": arn, "Region": region})
        meta["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": "REPLICA",
            "PrimaryKey": {"Arn": primary.arn, "Region": primary.region},
            "ReplicaKeys": []}
        meta.pop("DeletionDate", None)
        meta["KeyState"] = "Enabled"
        meta["Enabled"] = True
        rep = Key(primary.account, region, meta, primary.policy)
        store[primary.id] = rep
        return rep

    def seed_alias(self, account, region, name, target):
        if not ALIAS_NAME_RE.match(name):
            raise ValueError("bad alias name %r" % name)
        with self.lock:
            if target not in self.store(account, region):
                raise ValueError("no key %s in %s/%s" % (target, account,
                                                        region))
            now = self.now()
            self.alias_store(account, region)[name] = {
                "target": target, "created": now, "updated": now}

    def _add_grant(self, key, g, issuing_account):
        grant = {
            "KeyId": key.arn, "GrantId": g.get("GrantId") or secrets.token_hex(
                32),
            "CreationDate": self.now(),
            "GranteePrincipal": g["GranteePrincipal"],
            "IssuingAccount": "arn:%s:iam::%s:root" % (
                partition_of(key.region), issuing_account),
            "Operations": list(g.get("Operations") or []),
        }
        for opt in ("Name", "RetiringPrincipal", "Constraints"):
            if g.get(opt):
                grant[opt] = g[opt]
        key.grants.append(grant)
        return grant

    def find_key(self, ident, account=None, region=None):
        """Control API key lookup: key id, key ARN or alias name."""
        if ident.startswith("arn:"):
            m = KMS_ARN_RE.match(ident)
            if not m:
                return None
            account, region, kind, rest = (m.group(3), m.group(2), m.group(4),
                                           m.group(5))
            if kind == "alias":
                a = self.alias_store(account, region).get("alias/" + rest)
                return (self.store(account, region).get(a["target"])
                        if a else None)
            return self.store(account, region).get(rest)
        if account is None and region is None:
            found = [k for ks in self.keys.values() for k in ks.values()
                     if k.id == ident]
            if len(found) == 1:
                return found[0]
        account = account or DEFAULT_ACCOUNT
        region = region or DEFAULT_REGION
        if ident.startswith("alias/"):
            a = self.alias_store(account, region).get(ident)
            return self.store(account, region).get(a["target"]) if a else None
        return self.store(account, region).get(ident)

    def update_key(self, key, fields):
        fields = dict(fields)
        with self.lock:
            if "Policy" in fields:
                p = fields.pop("Policy")
                key.policy = (json.dumps(p, indent=2)
                              if isinstance(p, (dict, list)) else p)
            for f in ("KeyId", "Arn", "AWSAccountId"):
                if f in fields:
                    raise ValueError("%s cannot be changed" % f)
            if fields.get("KeyState") not in (None, "PendingDeletion") \
                    and "DeletionDate" not in fields:
                key.meta.pop("DeletionDate", None)
            self._apply_seed_fields(key, fields, creating=False)
            self.touch()

    # -- request log --------------------------------------------------------
    def wait_logged(self, timeout=2.0):
        """Waits (briefly) until every answered request is in the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.unlogged <= 0:
                    return
            time.sleep(0.002)

    def record(self, entry):
        with self.lock:
            if entry.pop("_pending", False):
                self.unlogged -= 1
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)
            c = self.counters
            c["total"] += 1
            for name, val in (("by_service", entry["service"]),
                              ("by_operation", entry["operation"]),
                              ("by_status", str(entry["status"])),
                              ("by_error", entry.get("error"))):
                if val:
                    c[name][val] = c[name].get(val, 0) + 1
            if entry.get("signature_valid") is False:
                c["signature_invalid"] += 1
            if entry.get("fault"):
                c["faults_injected"] += 1

    def take_fault(self, service, operation, key_id, account):
        with self.lock:
            if not self.faults:
                return None
            live = []
            hit = None
            for f in self.faults:
                if f.expired():
                    continue
                if hit is None and f.matches(service, operation, key_id,
                                             account):
                    f.fired += 1
                    hit = f
                if not f.expired():
                    live.append(f)
            self.faults = live
            return hit


# ---------------------------------------------------------------------------
# SigV4 verification

class AuthFailure(Exception):
    """kind is a neutral name mapped to KMS or STS codes by the caller."""

    def __init__(self, kind, message, signature_valid=None, caller=None):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.signature_valid = signature_valid
        self.caller = caller


KMS_AUTH_CODES = {
    "missing": ("MissingAuthenticationTokenException", 400),
    "incomplete": ("IncompleteSignatureException", 400),
    "unknown_key": ("UnrecognizedClientException", 400),
    "bad_token": ("UnrecognizedClientException", 400),
    "expired_token": ("ExpiredTokenException", 400),
    "bad_signature": ("InvalidSignatureException", 400),
}
STS_AUTH_CODES = {
    "missing": ("MissingAuthenticationToken", 403),
    "incomplete": ("IncompleteSignature", 400),
    "unknown_key": ("InvalidClientTokenId", 403),
    "bad_token": ("InvalidClientTokenId", 403),
    "expired_token": ("ExpiredToken", 400),
    "bad_signature": ("SignatureDoesNotMatch", 403),
}


def parse_authorization(value):
    if not value.startswith("AWS4-HMAC-SHA256"):
        raise AuthFailure("incomplete",
                          "Authorization header requires 'Credential' "
                          "parameter. Authorization header requires "
                          "'Signature' parameter. Authorization header "
                          "requires 'SignedHeaders' parameter. "
                          "Authorization header requires existence of "
                          "either a 'X-Amz-Date' or a 'Date' header.")
    parts = {}
    for item in value[len("AWS4-HMAC-SHA256"):].split(","):
        k, _, v = item.strip().partition("=")
        parts[k.strip()] = v.strip()
    missing = [p for p in ("Credential", "Signature", "SignedHeaders")
               if not parts.get(p)]
    if missing:
        raise AuthFailure("incomplete", " ".join(
            "Authorization header requires '%s' parameter." % p
            for p in missing))
    return parts


class SigV4Verifier:
    def __init__(self, emu):
        self.emu = emu

    def verify(self, method, path, headers, body, service):
        """Return a Caller or raise AuthFailure."""
        emu = self.emu
        auth = headers.get("authorization")
        if not auth:
            raise AuthFailure("missing", "Missing Authentication Token")
        parts = parse_authorization(auth)
        scope = parts["Credential"].split("/")
        if len(scope) != 5:
            raise AuthFailure("incomplete",
                              "Credential should be scoped to a valid "
                              "region, not '%s'. " % parts["Credential"])
        akid, sdate, region, sservice, term = scope
        if term != "aws4_request":
            raise AuthFailure("bad_signature",
                              "Credential should be scoped with a valid "
                              "terminator: 'aws4_request', not '%s'. " % term)
        with emu.lock:
            cred = emu.creds.get(akid)
            if cred is None:
                raise AuthFailure("unknown_key", MSG_BAD_TOKEN)
            cred = dict(cred)
            now = emu.now()
            skew_mode = emu.config["skew_check"]
        caller = emu.caller_for(akid)
        caller.region = region
        token = headers.get("x-amz-security-token")
        if cred["token"] is not None or token is not None:
            if token != cred["token"]:
                raise AuthFailure("bad_token", MSG_BAD_TOKEN, caller=caller)
            if cred["expires"] is not None and now >= cred["expires"]:
                raise AuthFailure("expired_token", MSG_EXPIRED_TOKEN,
                                  caller=caller)
        amz = headers.get("x-amz-date")
        if not amz:
            raise AuthFailure("incomplete",
                              "Authorization header requires existence of "
                              "either a 'X-Amz-Date' or a 'Date' header. "
                              "Authorization=%s" % auth.split(",")[0],
                              caller=caller)
        try:
            t = datetime.datetime.strptime(amz, SIGV4_FMT).replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise AuthFailure("bad_signature",
                              "Date must be in ISO-8601 'basic format'. Got "
                              "'%s'. See http://en.wikipedia.org/wiki/"
                              "ISO_8601" % amz, caller=caller)
        if sdate != amz[:8]:
            raise AuthFailure("bad_signature",
                              "Date in Credential scope does not match "
                              "YYYYMMDD from ISO-8601 version of date from "
                              "HTTP: '%s' != '%s', from '%s'."
                              % (sdate, amz[:8], amz), caller=caller)
        if sservice != service:
            raise AuthFailure("bad_signature",
                              "Credential should be scoped to correct "
                              "service: '%s'. " % service, caller=caller)
        if not REGION_RE.match(region):
            raise AuthFailure("bad_signature",
                              "Credential should be scoped to a valid "
                              "region. ", caller=caller)
        if skew_mode != "off":
            ref = now if skew_mode == "emulator" else time.time()
            if t < ref - MAX_SKEW:
                raise AuthFailure(
                    "bad_signature",
                    "Signature expired: %s is now earlier than %s (%s - 5 "
                    "min.)" % (amz, amzdate(ref - MAX_SKEW), amzdate(ref)),
                    caller=caller)
            if t > ref + MAX_SKEW:
                raise AuthFailure(
                    "bad_signature",
                    "Signature not yet current: %s is still later than %s "
                    "(%s + 5 min.)" % (amz, amzdate(ref + MAX_SKEW),
                                       amzdate(ref)), caller=caller)
        signed = parts["SignedHeaders"].split(";")
        if "host" not in signed:
            raise AuthFailure("bad_signature",
                              "'Host' or ':authority' must be a "
                              "'SignedHeader' in the AWS Authorization.",
                              caller=caller)
        sh = {}
        for h in signed:
            if h not in headers:
                raise AuthFailure("bad_signature", MSG_BAD_SIGNATURE,
                                  signature_valid=False, caller=caller)
            sh[h] = headers[h]
        declared = headers.get("x-amz-content-sha256")
        if declared and declared != "UNSIGNED-PAYLOAD" and declared != \
                hashlib.sha256(body).hexdigest():
            raise AuthFailure("bad_signature",
                              "The provided 'x-amz-content-sha256' header "
                              "does not match what was computed.",
                              signature_valid=False, caller=caller)
        req = AWSRequest(method=method, url="http://%s%s" % (
            headers.get("host", "localhost"), path), data=body, headers=sh)
        req.context["timestamp"] = amz
        signer = SigV4Auth(Credentials(akid, cred["secret"], cred["token"]),
                           service, region)
        canonical = signer.canonical_request(req)
        sts = signer.string_to_sign(req, canonical)
        expect = signer.signature(sts, req)
        if not hmac.compare_digest(expect, parts["Signature"]):
            if emu.config["log_signature_failures"]:
                # Session tokens are secrets: never in a log.
                shown = re.sub(r"(?m)^(x-amz-security-token:).*$",
                               r"\1<redacted>", canonical)
                sys.stderr.write(
                    "kmsemu: signature mismatch for %s\n--- canonical "
                    "request\n%s\n--- string to sign\n%s\n---\n"
                    % (akid, shown, sts))
                sys.stderr.flush()
            raise AuthFailure("bad_signature", MSG_BAD_SIGNATURE,
                              signature_valid=False, caller=caller)
        return caller


# ---------------------------------------------------------------------------
# KMS operations

emu_usage.bind(KMSError=KMSError, ts=ts, parse_time=parse_time)


class KMS(emu_material.MaterialOps, emu_keystore.KeyStoreOps,
          emu_usage.UsageOps, emu_grants.GrantsMixin, emu_replicas.ReplicaOps):
    def __init__(self, emu):
        self.emu = emu

    # -- helpers ----------------------------------------------------------
    def _identity_check(self, caller, action, resource):
        if caller.allow is not None and not any(
                _wild(a, action) for a in caller.allow):
            self._denied(caller, action, resource, "identity-based")
        if any(_wild(a, action) for a in caller.deny):
            raise KMSError(
                "AccessDeniedException",
                "User: %s is not authorized to perform: %s on resource: %s "
                "with an explicit deny in an identity-based policy"
                % (caller.arn, action, resource))

    @staticmethod
    def _denied(caller, action, resource, which):
        raise KMSError(
            "AccessDeniedException",
            "User: %s is not authorized to perform: %s on resource: %s "
            "because no %s policy allows the %s action"
            % (caller.arn, action, resource, which, action))

    def resolve(self, caller, op, ident, aliases=False):
        """Find the key an operation names; apply account/region rules."""
        emu = self.emu
        region = caller.region
        if ident.startswith("arn:"):
            m = KMS_ARN_RE.match(ident)
            if not m:
                raise KMSError("InvalidArnException",
                               "ARN %s is not a valid KMS key ARN" % ident)
            _, aregion, account, kind, rest = m.groups()
            if aregion != region:
                raise KMSError("NotFoundException", "Invalid arn %s" % aregion)
            if kind == "alias":
                if not aliases:
                    raise KMSError("NotFoundException",
                                   "Invalid keyId %s" % ident)
                a = emu.alias_store(account, region).get("alias/" + rest)
                if a is None:
                    raise KMSError("NotFoundException",
                                   "Alias %s is not found." % ident)
                key = emu.store(account, region).get(a["target"])
            else:
                key = emu.store(account, region).get(rest)
            if key is None:
                raise KMSError("NotFoundException",
                               "Key '%s' does not exist" % ident)
        elif ident.startswith("alias/"):
            account = caller.account
            if not aliases:
                raise KMSError("NotFoundException", "Invalid keyId %s" % ident)
            a = emu.alias_store(account, region).get(ident)
            arn = "arn:%s:kms:%s:%s:%s" % (partition_of(region), region,
                                           account, ident)
            if a is None:
                raise KMSError("NotFoundException",
                               "Alias %s is not found." % arn)
            key = emu.store(account, region).get(a["target"])
            if key is None:
                raise KMSError("NotFoundException",
                               "Alias %s is not found." % arn)
        elif UUID_RE.match(ident) or MRK_RE.match(ident):
            account = caller.account
            key = emu.store(account, region).get(ident)
            if key is None:
                raise KMSError("NotFoundException",
                               "Key 'arn:%s:kms:%s:%s:key/%s' does not exist"
                               % (partition_of(region), region, account,
                                  ident))
        else:
            raise KMSError("NotFoundException", "Invalid keyId '%s'" % ident)
        action = "kms:" + op
        self._identity_check(caller, action, key.arn)
        if key.account != caller.account:
            if op not in CROSS_ACCOUNT_OPS:
                self._denied(caller, action, key.arn, "resource-based")
            if not policy_allows(key.policy, caller, action):
                self._denied(caller, action, key.arn, "resource-based")
        return key

    @staticmethod
    def _state_error(key):
        st = key.state
        if st == "Disabled":
            return KMSError("DisabledException", "%s is disabled." % key.arn)
        return KMSError("KMSInvalidStateException",
                        "%s is %s." % (key.arn, STATE_WORDS.get(st, st)))

    def _require(self, key, allowed, disabled_exc=False):
        if key.state in allowed:
            return
        if disabled_exc and key.state == "Disabled":
            raise self._state_error(key)
        raise KMSError("KMSInvalidStateException",
                       "%s is %s." % (key.arn, STATE_WORDS.get(key.state,
                                                               key.state)))

    @staticmethod
    def _customer_managed(key, caller, op):
        if key.meta.get("KeyManager") == "AWS":
            raise KMSError(
                "AccessDeniedException",
                "User: %s is not authorized to perform: kms:%s on resource: "
                "%s because no resource-based policy allows the kms:%s action"
                % (caller.arn, op, key.arn, op))

    @staticmethod
    def _encode_marker(kind, last):
        raw = json.dumps([kind, last]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_marker(kind, marker):
        try:
            pad = "=" * (-len(marker) % 4)
            k, last = json.loads(base64.urlsafe_b64decode(marker + pad))
            if k != kind:
                raise ValueError(k)
            return last
        except (ValueError, TypeError, UnicodeDecodeError):
            raise KMSError("InvalidMarkerException", "Invalid marker")

    def _paginate(self, p, kind, items, sortkey, default, cap):
        """items sorted by sortkey; returns (page, extra response fields)."""
        limit = min(p.get("Limit") or default, cap,
                    self.emu.config["list_page_size"] or cap)
        start = 0
        if p.get("Marker") is not None:
            last = self._decode_marker(kind, p["Marker"])
            keys = [sortkey(i) for i in items]
            start = bisect.bisect_right(keys, last)
        page = items[start:start + limit]
        truncated = start + limit < len(items)
        extra = {"Truncated": truncated}
        if truncated:
            extra["NextMarker"] = self._encode_marker(kind, sortkey(page[-1]))
        return page, extra

    def _check_policy_text(self, text, caller, bypass, account, region):
        if len(text.encode("utf-8")) > 32768:
            raise KMSError("LimitExceededException",
                           "Policy exceeds the maximum size of 32768 bytes")
        try:
            doc = json.loads(text)
        except ValueError:
            raise KMSError("MalformedPolicyDocumentException",
                           "The policy document is not valid JSON.")
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise KMSError("MalformedPolicyDocumentException",
                           "Policy is missing required element - Statement")
        for st in _as_list(doc["Statement"]):
            if not isinstance(st, dict) or st.get("Effect") not in (
                    "Allow", "Deny"):
                raise KMSError("MalformedPolicyDocumentException",
                               "Policy contains a statement with an invalid "
                               "Effect.")
            if "Principal" not in st and "NotPrincipal" not in st:
                raise KMSError("MalformedPolicyDocumentException",
                               "Policy contains a statement with no "
                               "principal.")
        if not bypass and not policy_allows(text, caller, "kms:PutKeyPolicy"):
            raise KMSError("MalformedPolicyDocumentException",
                           "The new key policy will not allow you to update "
                           "the key policy in the future.")

    # -- operations -------------------------------------------------------
    def CreateKey(self, c, p):
        self._identity_check(c, "kms:CreateKey", "*")
        spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or \
            "SYMMETRIC_DEFAULT"
        if p.get("KeySpec") and p.get("CustomerMasterKeySpec"):
            raise KMSError("ValidationException",
                           "You cannot specify KeySpec and "
                           "CustomerMasterKeySpec in the same request. "
                           "CustomerMasterKeySpec parameter is deprecated. "
                           "Use KeySpec only.")
        usage = p.get("KeyUsage") or spec_usages(spec)[0]
        if usage not in spec_usages(spec):
            raise KMSError("ValidationException",
                           "KeyUsage %s is not compatible with KeySpec %s"
                           % (usage, spec))
        origin = p.get("Origin") or "AWS_KMS"
        store_id = None
        if origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            store_id = self._store_for_new_key(c, p, origin)
        if origin == "EXTERNAL" and spec != "SYMMETRIC_DEFAULT" and \
                not spec.startswith(("HMAC_", "RSA_", "ECC_", "SM2")):
            raise KMSError("UnsupportedOperationException",
                           "Origin EXTERNAL is not supported for %s" % spec)
        policy = p.get("Policy")
        if policy is not None:
            self._check_policy_text(policy, c, p.get(
                "BypassPolicyLockoutSafetyCheck", False), c.account, c.region)
        key = self.emu.new_key(c.account, c.region, spec, usage, origin,
                               p.get("Description", ""),
                               p.get("MultiRegion", False), policy)
        key.tags = list(p.get("Tags") or [])
        if store_id is not None:
            key.meta["CustomKeyStoreId"] = store_id
        return {"KeyMetadata": key.describe()}

    def DescribeKey(self, c, p):
        key = self.resolve(c, "DescribeKey", p["KeyId"], aliases=True)
        return {"KeyMetadata": key.describe()}

    def GetKeyPolicy(self, c, p):
        key = self.resolve(c, "GetKeyPolicy", p["KeyId"])
        name = p.get("PolicyName", "default")
        if name != "default":
            raise KMSError("NotFoundException", "No such policy exists")
        return {"Policy": key.policy, "PolicyName": "default"}

    def PutKeyPolicy(self, c, p):
        key = self.resolve(c, "PutKeyPolicy", p["KeyId"])
        self._customer_managed(key, c, "PutKeyPolicy")
        if p.get("PolicyName", "default") != "default":
            raise KMSError("NotFoundException", "No such policy exists")
        self._require(key, KEY_STATES - {"Creating", "Updating"})
        self._check_policy_text(p["Policy"], c,
                                p.get("BypassPolicyLockoutSafetyCheck", False),
                                key.account, key.region)
        key.policy = p["Policy"]
        return {}

    def ListKeyPolicies(self, c, p):
        self.resolve(c, "ListKeyPolicies", p["KeyId"])
        return {"PolicyNames": ["default"], "Truncated": False}

    def ListKeys(self, c, p):
        self._identity_check(c, "kms:ListKeys", "*")
        keys = sorted(self.emu.store(c.account, c.region).values(),
                      key=lambda k: k.id)
        page, extra = self._paginate(p, "keys", keys, lambda k: k.id, 100,
                                     1000)
        out = {"Keys": [{"KeyId": k.id, "KeyArn": k.arn} for k in page]}
        out.update(extra)
        return out

    def ListAliases(self, c, p):
        self._identity_check(c, "kms:ListAliases", "*")
        target = None
        if p.get("KeyId") is not None:
            key = self.resolve(c, "ListAliases", p["KeyId"])
            target = key.id
        emu = self.emu
        part = partition_of(c.region)
        prefix = "arn:%s:kms:%s:%s:" % (part, c.region, c.account)
        entries = []
        for name, a in emu.alias_store(c.account, c.region).items():
            if target is not None and a["target"] != target:
                continue
            entries.append({"AliasName": name, "AliasArn": prefix + name,
                            "TargetKeyId": a["target"],
                            "CreationDate": ts(a["created"]),
                            "LastUpdatedDate": ts(a["updated"])})
        if target is None and emu.config["aws_managed_aliases"]:
            have = {e["AliasName"] for e in entries}
            for name in AWS_MANAGED_ALIASES:
                if name not in have:
                    entries.append({"AliasName": name,
                                    "AliasArn": prefix + name})
        entries.sort(key=lambda e: e["AliasName"])
        page, extra = self._paginate(p, "aliases", entries,
                                     lambda e: e["AliasName"], 50, 100)
        out = {"Aliases": page}
        out.update(extra)
        return out

    def _alias_arn(self, c, name):
        return "arn:%s:kms:%s:%s:%s" % (partition_of(c.region), c.region,
                                        c.account, name)

    def _check_alias_name(self, name):
        if not name.startswith("alias/"):
            raise KMSError("ValidationException",
                           "Alias must start with the prefix \"alias/\". "
                           "Please see https://docs.aws.amazon.com/kms/"
                           "latest/developerguide/kms-alias.html")
        if name.startswith("alias/aws/"):
            raise KMSError("InvalidAliasNameException",
                           "Alias names that begin with alias/aws/ are "
                           "reserved.")
        if not ALIAS_NAME_RE.match(name):
            raise KMSError("InvalidAliasNameException",
                           "Alias %s contains invalid characters" % name)

    def _alias_target(self, c, op, ident):
        if ident.startswith("alias/") or ":alias/" in ident:
            raise KMSError("ValidationException",
                           "Aliases must refer to keys. Try using a key ID "
                           "or key ARN instead.")
        key = self.resolve(c, op, ident)
        self._customer_managed(key, c, op)
        if key.state in ("PendingDeletion", "PendingReplicaDeletion"):
            raise self._state_error(key)
        return key

    def CreateAlias(self, c, p):
        name = p["AliasName"]
        self._check_alias_name(name)
        key = self._alias_target(c, "CreateAlias", p["TargetKeyId"])
        aliases = self.emu.alias_store(c.account, c.region)
        if name in aliases:
            raise KMSError("AlreadyExistsException",
                           "An alias with the name %s already exists"
                           % self._alias_arn(c, name))
        now = self.emu.now()
        aliases[name] = {"target": key.id, "created": now, "updated": now}
        return {}

    def UpdateAlias(self, c, p):
        name = p["AliasName"]
        aliases = self.emu.alias_store(c.account, c.region)
        if name not in aliases:
            raise KMSError("NotFoundException", "Alias %s is not found."
                           % self._alias_arn(c, name))
        key = self._alias_target(c, "UpdateAlias", p["TargetKeyId"])
        old = self.emu.store(c.account, c.region).get(aliases[name]["target"])
        if old is not None and (
                old.meta["KeyUsage"] != key.meta["KeyUsage"]
                or old.meta["KeySpec"] != key.meta["KeySpec"]):
            raise KMSError("ValidationException",
                           "%s is not the same key type as the alias's "
                           "current target %s" % (key.arn, old.arn))
        aliases[name]["target"] = key.id
        aliases[name]["updated"] = self.emu.now()
        return {}

    def DeleteAlias(self, c, p):
        name = p["AliasName"]
        self._identity_check(c, "kms:DeleteAlias", self._alias_arn(c, name))
        aliases = self.emu.alias_store(c.account, c.region)
        if name not in aliases:
            raise KMSError("NotFoundException", "Alias %s is not found."
                           % self._alias_arn(c, name))
        del aliases[name]
        return {}

    def EnableKey(self, c, p):
        key = self.resolve(c, "EnableKey", p["KeyId"])
        self._customer_managed(key, c, "EnableKey")
        self._require(key, {"Enabled", "Disabled"})
        key.set_state("Enabled")
        self.emu.touch()
        return {}

    def DisableKey(self, c, p):
        key = self.resolve(c, "DisableKey", p["KeyId"])
        self._customer_managed(key, c, "DisableKey")
        self._require(key, {"Enabled", "Disabled"})
        key.set_state("Disabled")
        return {}

    def ScheduleKeyDeletion(self, c, p):
        key = self.resolve(c, "ScheduleKeyDeletion", p["KeyId"])
        self._customer_managed(key, c, "ScheduleKeyDeletion")
        days = p.get("PendingWindowInDays", 30)
        if days < 7 or days > 30:
            raise KMSError(
                "ValidationException",
                "1 validation error detected: Value '%d' at "
                "'pendingWindowInDays' failed to satisfy constraint: Member "
                "must have value %s" % (
                    days, "greater than or equal to 7" if days < 7 else
                    "less than or equal to 30"))
        self._require(key, {"Enabled", "Disabled", "PendingImport",
                            "Unavailable"})
        now = self.emu.now()
        mrc = key.meta.get("MultiRegionConfiguration") or {}
        out = {"KeyId": key.arn, "PendingWindowInDays": days}
        if mrc.get("MultiRegionKeyType") == "PRIMARY" and mrc.get(
                "ReplicaKeys"):
            key.set_state("PendingReplicaDeletion")
            key.meta["PendingDeletionWindowInDays"] = days
            key.delete_at = now + days * 86400
        else:
            key.set_state("PendingDeletion")
            key.meta["DeletionDate"] = now + days * 86400
            out["DeletionDate"] = ts(key.meta["DeletionDate"])
        out["KeyState"] = key.state
        self.emu.touch()
        return out

    def CancelKeyDeletion(self, c, p):
        key = self.resolve(c, "CancelKeyDeletion", p["KeyId"])
        self._customer_managed(key, c, "CancelKeyDeletion")
        if key.state not in ("PendingDeletion", "PendingReplicaDeletion"):
            raise KMSError("KMSInvalidStateException",
                           "%s is not pending deletion." % key.arn)
        key.set_state("Disabled")
        key.meta.pop("DeletionDate", None)
        key.meta.pop("PendingDeletionWindowInDays", None)
        key.delete_at = None
        self.emu.touch()
        return {"KeyId": key.arn}

    def _rotatable(self, key, c, op):
        self._customer_managed(key, c, op)
        m = key.meta
        if m["KeySpec"] != "SYMMETRIC_DEFAULT":
            raise KMSError("UnsupportedOperationException",
                           "%s key spec %s is not valid for this operation."
                           % (key.arn, m["KeySpec"]))
        if m["Origin"] != "AWS_KMS":
            raise KMSError("UnsupportedOperationException",
                           "%s origin is %s which is not valid for this "
                           "operation." % (key.arn, m["Origin"]))
        mrc = m.get("MultiRegionConfiguration") or {}
        if mrc.get("MultiRegionKeyType") == "REPLICA":
            raise KMSError("UnsupportedOperationException",
                           "%s is a multi-Region replica key; manage "
                           "rotation on its primary key." % key.arn)

    def GetKeyRotationStatus(self, c, p):
        key = self.resolve(c, "GetKeyRotationStatus", p["KeyId"])
        if key.meta["KeySpec"] != "SYMMETRIC_DEFAULT" or \
                key.meta["Origin"] not in ("AWS_KMS", "EXTERNAL"):
            raise KMSError("UnsupportedOperationException",
                           "%s key spec %s is not valid for this operation."
                           % (key.arn, key.meta["KeySpec"]))
        out = {"KeyRotationEnabled": key.rotation_enabled, "KeyId": key.arn}
        if key.rotation_enabled:
            out["RotationPeriodInDays"] = key.rotation_period
            if key.next_rotation is not None:
                out["NextRotationDate"] = ts(key.next_rotation)
        return out

    def EnableKeyRotation(self, c, p):
        key = self.resolve(c, "EnableKeyRotation", p["KeyId"])
        self._rotatable(key, c, "EnableKeyRotation")
        self._require(key, {"Enabled"}, disabled_exc=True)
        period = p.get("RotationPeriodInDays", 365)
        if not key.rotation_enabled or key.rotation_period != period:
            key.rotation_enabled = True
            key.rotation_period = period
            key.next_rotation = self.emu.now() + period * 86400
        self.emu.touch()
        return {}

    def DisableKeyRotation(self, c, p):
        key = self.resolve(c, "DisableKeyRotation", p["KeyId"])
        self._rotatable(key, c, "DisableKeyRotation")
        self._require(key, {"Enabled"}, disabled_exc=True)
        key.rotation_enabled = False
        key.rotation_period = None
        key.next_rotation = None
        return {}

    def RotateKeyOnDemand(self, c, p):
        key = self.resolve(c, "RotateKeyOnDemand", p["KeyId"])
        self._rotatable(key, c, "RotateKeyOnDemand")
        self._require(key, {"Enabled"}, disabled_exc=True)
        if key.on_demand_rotations >= 10:
            raise KMSError("LimitExceededException",
                           "The on-demand rotations limit has been reached "
                           "for %s." % key.arn)
        key.on_demand_rotations += 1
        self.emu._rotate(key, "ON_DEMAND", self.emu.now())
        return {"KeyId": key.id}

    def ListResourceTags(self, c, p):
        key = self.resolve(c, "ListResourceTags", p["KeyId"])
        return {"Tags": list(key.tags), "Truncated": False}

    def TagResource(self, c, p):
        key = self.resolve(c, "TagResource", p["KeyId"])
        tags = {t["TagKey"]: t["TagValue"] for t in key.tags}
        for t in p["Tags"]:
            tags[t["TagKey"]] = t["TagValue"]
        key.tags = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
        return {}

    def UntagResource(self, c, p):
        key = self.resolve(c, "UntagResource", p["KeyId"])
        key.tags = [t for t in key.tags if t["TagKey"] not in p["TagKeys"]]
        return {}

    def UpdateKeyDescription(self, c, p):
        key = self.resolve(c, "UpdateKeyDescription", p["KeyId"])
        self._customer_managed(key, c, "UpdateKeyDescription")
        self._require(key, KEY_STATES - {"PendingDeletion",
                                         "PendingReplicaDeletion"})
        key.meta["Description"] = p["Description"]
        return {}


emu_replicas.bind(KMSError=KMSError, Key=Key, REGION_RE=REGION_RE,
                  default_policy=default_policy, partition_of=partition_of)
SUPPORTED_OPS = {n for n in dir(KMS) if n[:1].isupper()}
emu_grants.bind(KMSError, ts)


# ---------------------------------------------------------------------------
# STS

def sts_xml(action, result_xml, request_id):
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n'
            '  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n'
            '  </ResponseMetadata>\n</%sResponse>\n'
            % (action, STS_NS, action, result_xml, action, request_id,
               action)).encode()


def sts_error_xml(err, request_id):
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n'
            '    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n'
            '  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (STS_NS, err.kind, xml_escape(err.code),
               xml_escape(err.message), request_id)).encode()


def _cred_xml(cred, indent="    "):
    return ("%s<Credentials>\n"
            "%s  <AccessKeyId>%s</AccessKeyId>\n"
            "%s  <SecretAccessKey>%s</SecretAccessKey>\n"
            "%s  <SessionToken>%s</SessionToken>\n"
            "%s  <Expiration>%s</Expiration>\n"
            "%s</Credentials>\n" % (
                indent, indent, cred["AccessKeyId"], indent,
                xml_escape(cred["SecretAccessKey"]), indent,
                cred["SessionToken"], indent, cred["ExpirationISO"], indent))


def _jwt_claims(token):
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        pad = "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
        return claims if isinstance(claims, dict) else {}
    except (ValueError, TypeError):
        return {}


class STS:
    def __init__(self, emu):
        self.emu = emu

    def _validate_common(self, form):
        role_arn = form.get("RoleArn")
        session = form.get("RoleSessionName")
        errors = []
        if role_arn is None:
            errors.append("Value null at 'roleArn' failed to satisfy "
                          "constraint: Member must not be null")
        elif len(role_arn) < 20:
            errors.append("Value '%s' at 'roleArn' failed to satisfy "
                          "constraint: Member must have length greater than "
                          "or equal to 20" % role_arn)
        if session is None:
            errors.append("Value null at 'roleSessionName' failed to "
                          "satisfy constraint: Member must not be null")
        elif not SESSION_NAME_RE.match(session):
            errors.append("Value '%s' at 'roleSessionName' failed to satisfy "
                          "constraint: Member must satisfy regular "
                          "expression pattern: [\\w+=,.@-]*" % session)
        duration = form.get("DurationSeconds")
        if duration is not None:
            try:
                d = int(duration)
            except ValueError:
                raise STSError("ValidationError",
                               "Invalid value for DurationSeconds")
            if d < 900:
                errors.append("Value '%d' at 'durationSeconds' failed to "
                              "satisfy constraint: Member must have value "
                              "greater than or equal to 900" % d)
            elif d > 43200:
                errors.append("Value '%d' at 'durationSeconds' failed to "
                              "satisfy constraint: Member must have value "
                              "less than or equal to 43200" % d)
        if errors:
            raise STSError("ValidationError",
                           "%d validation error%s detected: %s" % (
                               len(errors), "s" if len(errors) > 1 else "",
                               "; ".join(errors)))
        if not ROLE_ARN_RE.match(role_arn):
            raise STSError("ValidationError",
                           "%s is invalid" % role_arn)
        return role_arn, session, int(duration) if duration else 3600

    def AssumeRole(self, caller, form):
        role_arn, session, duration = self._validate_common(form)
        emu = self.emu
        role = emu.roles.get(role_arn)
        allowed = True
        if role is not None and role.get("trust") is not None:
            allowed = any(caller.principal_matches(t) for t in role["trust"])
        elif role is None and emu.config["strict_roles"]:
            allowed = False
        if any(_wild(a, "sts:AssumeRole") for a in caller.deny):
            allowed = False
        if not allowed:
            raise STSError("AccessDenied",
                           "User: %s is not authorized to perform: "
                           "sts:AssumeRole on resource: %s" % (
                               caller.arn, role_arn), status=403)
        cred = emu.issue_temporary(role_arn, session, duration)
        body = (_cred_xml(cred) +
                "    <AssumedRoleUser>\n      <AssumedRoleId>%s</AssumedRoleId>"
                "\n      <Arn>%s</Arn>\n    </AssumedRoleUser>\n"
                % (cred["UserId"], cred["Arn"]))
        return body

    def AssumeRoleWithWebIdentity(self, caller, form):
        role_arn, session, duration = self._validate_common(form)
        token = form.get("WebIdentityToken")
        if not token:
            raise STSError("ValidationError",
                           "1 validation error detected: Value null at "
                           "'webIdentityToken' failed to satisfy "
                           "constraint: Member must not be null")
        emu = self.emu
        role = emu.roles.get(role_arn) or {}
        accepted = role.get("web_identity_tokens")
        if accepted is None:
            accepted = emu.config["web_identity_tokens"]
        if accepted is not None and token not in accepted:
            raise STSError("InvalidIdentityToken",
                           "The web identity token that was passed could "
                           "not be validated by AWS. Get a new identity "
                           "token from the identity provider and then retry "
                           "the request.")
        if role.get("trust") is not None and "web_identity" not in role[
                "trust"] and "*" not in role["trust"]:
            raise STSError("AccessDenied",
                           "Not authorized to perform "
                           "sts:AssumeRoleWithWebIdentity", status=403)
        if role.get("web_identity") is False:
            raise STSError("AccessDenied",
                           "Not authorized to perform "
                           "sts:AssumeRoleWithWebIdentity", status=403)
        claims = _jwt_claims(token)
        cred = emu.issue_temporary(role_arn, session, duration)
        aud = claims.get("aud", "sts.amazonaws.com")
        if isinstance(aud, list):
            aud = aud[0] if aud else ""
        body = (_cred_xml(cred) +
                "    <SubjectFromWebIdentityToken>%s"
                "</SubjectFromWebIdentityToken>\n"
                "    <AssumedRoleUser>\n      <AssumedRoleId>%s</AssumedRoleId>"
                "\n      <Arn>%s</Arn>\n    </AssumedRoleUser>\n"
                "    <Provider>%s</Provider>\n"
                "    <Audience>%s</Audience>\n" % (
                    xml_escape(str(claims.get("sub", "kmsemu-subject"))),
                    cred["UserId"], cred["Arn"],
                    xml_escape(str(claims.get("iss", "kmsemu.local"))),
                    xml_escape(str(aud))))
        return body

    def GetCallerIdentity(self, caller, form):
        return ("    <Arn>%s</Arn>\n    <UserId>%s</UserId>\n"
                "    <Account>%s</Account>\n"
                % (caller.arn, caller.user_id, caller.account))


STS_SIGNED = {"AssumeRole", "GetCallerIdentity"}
STS_UNSIGNED = {"AssumeRoleWithWebIdentity"}


# ---------------------------------------------------------------------------
# HTTP

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
            b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
            b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class Done(Exception):
    """The response (or its deliberate absence) has been handled."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kmsemu"
    sys_version = ""
    timeout = 120

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                       1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.emu.verbose:
            sys.stderr.write("kmsemu: %s %s\n" % (self.address_string(),
                                                  fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    # -- plumbing ---------------------------------------------------------
    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    break
                if len(out) + size > MAX_BODY:
                    raise ValueError("body too large")
                out += self.rfile.read(size)
                self.rfile.readline(1024)
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def send(self, status, body=b"", ctype="application/json", headers=()):
        reason = self.responses.get(status, ("",))[0] or "Status"
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Server: kmsemu",
                 "Date: %s" % self.date_time_string()]
        if ctype:
            lines.append("Content-Type: %s" % ctype)
        lines.append("Content-Length: %d" % len(body))
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += body
        self.mark_answered()
        self.wfile.write(data)
        self.status = status

    def mark_answered(self):
        # Taken before the first byte of the answer leaves: a client
        # cannot have its answer (and send its next request) earlier.
        if self.answered_at is None:
            self.answered_at = time.time()

    def send_json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj).encode(), "application/json",
                  headers)

    def dispatch(self):
        self.status = None
        self.answered_at = None
        self.t0 = time.monotonic()
        try:
            self.body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send(413, b"", None)
            return
        path = self.path.split("?", 1)[0]
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        self.hdrs = hdrs
        try:
            if path.startswith("/_emu/") or path == "/_emu":
                self.control(path)
            elif path.startswith("/latest/"):
                self.imds(path)
            elif path.startswith("/_creds/"):
                self.container(path)
            elif "x-amz-target" in hdrs:
                self.kms()
            elif self.command == "POST" and path == "/":
                self.sts()
            else:
                self.send(404, b"Not Found\n", "text/plain")
        except Done:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- faults -----------------------------------------------------------
    def apply_fault(self, fault, service, operation, log):
        """Carry out a fault; raises Done unless it was latency only."""
        log["fault"] = fault.action
        if fault.latency:
            time.sleep(fault.latency)
        a = fault.action
        if a == "latency":
            return
        if a == "error":
            rid = str(uuid.uuid4())
            if service == "kms":
                self.kms_error(KMSError(fault.code, fault.message,
                                        fault.status), rid)
            elif service == "sts":
                self.send(fault.status, sts_error_xml(
                    STSError(fault.code, fault.message or fault.code,
                             fault.status), rid), "text/xml",
                    [("x-amzn-RequestId", rid)])
            else:
                self.send(fault.status, (fault.message or fault.code).encode(),
                          "text/plain")
            log["error"] = fault.code
        elif a == "html502":
            self.send(fault.status, HTML_502, "text/html")
        elif a == "raw":
            self.send(fault.status, fault.body.encode("utf-8"),
                      fault.content_type or None,
                      list(fault.headers.items()))
        elif a == "malformed":
            self.send(200, b'{"KeyMetadata": {"KeyId": "1234abcd-12ab", '
                      b'"KeyState": Enab', "application/x-amz-json-1.1",
                      [("x-amzn-RequestId", str(uuid.uuid4()))])
        elif a == "truncated":
            body = json.dumps({"KeyMetadata": {
                "AWSAccountId": DEFAULT_ACCOUNT,
                "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "Description": "x" * 512, "KeyState": "Enabled"}}).encode()
            head = ("HTTP/1.1 200 OK\r\nServer: kmsemu\r\nContent-Type: "
                    "application/x-amz-json-1.1\r\nContent-Length: %d\r\n"
                    "x-amzn-RequestId: %s\r\n\r\n" % (len(body),
                                                     uuid.uuid4())).encode()
            self.wfile.write(head + body[:len(body) // 2])
            self.close_connection = True
            self.status = 200
        elif a == "oversized":
            self.send_oversized(fault.size)
        elif a == "reset":
            # SO_LINGER 0 makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            try:
                self.connection.close()
            except OSError:
                pass
            self.status = 0
        elif a == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.status = 0
        log["status"] = self.status
        self.finish_log(log)
        raise Done()

    def send_oversized(self, size):
        prefix = b'{"KeyMetadata": {"KeyId": "1234abcd-12ab-34cd-56ef-' \
                 b'1234567890ab", "Description": "'
        suffix = b'"}}'
        fill = max(0, size - len(prefix) - len(suffix))
        head = ("HTTP/1.1 200 OK\r\nServer: kmsemu\r\nContent-Type: "
                "application/x-amz-json-1.1\r\nContent-Length: %d\r\n"
                "x-amzn-RequestId: %s\r\n\r\n"
                % (len(prefix) + fill + len(suffix), uuid.uuid4())).encode()
        self.status = 200
        self.mark_answered()
        try:
            self.wfile.write(head + prefix)
            chunk = b"A" * (1 << 20)
            while fill > 0:
                n = min(fill, len(chunk))
                self.wfile.write(chunk[:n])
                fill -= n
            self.wfile.write(suffix)
        except OSError:
            self.close_connection = True

    def finish_log(self, log):
        log["duration_ms"] = round((time.monotonic() - self.t0) * 1000, 3)
        log["answered_at"] = self.answered_at
        if log.get("status") is None:
            log["status"] = self.status
        self.server.emu.record(log)

    def new_log(self, service, operation):
        # Counted until finish_log() records it: the response is written
        # before the entry is, and the control API must not answer with a
        # log that misses a request whose response a client already has.
        with self.server.emu.lock:
            self.server.emu.unlogged += 1
        return {"_pending": True, "time": ts(self.server.emu.now()),
                "real_time": ts(time.time()), "received_at": time.time(),
                "service": service, "operation": operation, "method":
                self.command, "path": self.path, "access_key": None,
                "account": None, "caller": None, "region": None,
                "signature_valid": None, "status": None, "error": None,
                "fault": None, "key_id": None}

    # -- KMS --------------------------------------------------------------
    def kms_error(self, err, rid):
        emu = self.server.emu
        code = err.code
        if emu.config["error_type_style"] == "namespaced":
            code = "com.amazonaws.kms#" + code
        body = {"__type": code}
        if err.message is not None:
            body[emu.config["error_message_field"]] = err.message
        self.send(err.status, json.dumps(body).encode(),
                  "application/x-amz-json-1.1", [("x-amzn-RequestId", rid)])

    def kms(self):
        emu = self.server.emu
        target = self.hdrs.get("x-amz-target", "")
        prefix, _, op = target.partition(".")
        log = self.new_log("kms", op or target)
        rid = str(uuid.uuid4())
        params = None
        try:
            params = json.loads(self.body or b"{}")
        except ValueError:
            pass
        if isinstance(params, dict) and isinstance(params.get("KeyId"), str):
            log["key_id"] = params["KeyId"]
        caller = None
        auth_err = None
        try:
            caller = SigV4Verifier(emu).verify(
                self.command, self.path, self.hdrs, self.body, "kms")
            log["signature_valid"] = True
        except AuthFailure as e:
            auth_err = e
            caller = e.caller
            log["signature_valid"] = e.signature_valid
        if caller is not None:
            log.update(access_key=caller.akid, account=caller.account,
                       caller=caller.arn, region=caller.region)
        fault = emu.take_fault("kms", log["operation"], log["key_id"],
                               log["account"])
        if fault is not None:
            self.apply_fault(fault, "kms", log["operation"], log)
        try:
            if self.command != "POST":
                raise KMSError("UnknownOperationException", None, 404)
            if auth_err is not None:
                code, status = KMS_AUTH_CODES[auth_err.kind]
                raise KMSError(code, auth_err.message, status)
            if prefix != "TrentService" or op not in emu.operations:
                raise KMSError("UnknownOperationException", None)
            if not isinstance(params, dict):
                raise KMSError("SerializationException",
                               "Start of structure or map found where not "
                               "expected." if params is not None else
                               "Unable to parse the request body as JSON")
            emu.validator.validate(op, params)
            if op not in SUPPORTED_OPS:
                raise KMSError("UnsupportedOperationException",
                               "kmsemu does not implement %s" % op)
            emu.sweep()
            with emu.lock:
                result = getattr(emu.kms, op)(caller, params)
            self.send(200, json.dumps(result).encode(),
                      "application/x-amz-json-1.1",
                      [("x-amzn-RequestId", rid)])
        except KMSError as e:
            log["error"] = e.code
            self.kms_error(e, rid)
        except Exception as e:  # a bug in the emulator: say so, like AWS
            sys.stderr.write("kmsemu: internal error in %s: %r\n" % (op, e))
            import traceback
            traceback.print_exc()
            log["error"] = "KMSInternalException"
            self.kms_error(KMSError("KMSInternalException",
                                    "kmsemu internal error: %s" % e), rid)
        self.finish_log(log)

    # -- STS --------------------------------------------------------------
    def sts(self):
        emu = self.server.emu
        rid = str(uuid.uuid4())
        try:
            form = dict(urllib.parse.parse_qsl(self.body.decode("utf-8"),
                                               keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        action = form.get("Action", "")
        log = self.new_log("sts", action or "?")
        caller = None
        auth_err = None
        if action not in STS_UNSIGNED or "authorization" in self.hdrs:
            try:
                caller = SigV4Verifier(emu).verify(
                    self.command, self.path, self.hdrs, self.body, "sts")
                log["signature_valid"] = True
            except AuthFailure as e:
                auth_err = e
                caller = e.caller
                log["signature_valid"] = e.signature_valid
            if caller is not None:
                log.update(access_key=caller.akid, account=caller.account,
                           caller=caller.arn, region=caller.region)
        fault = emu.take_fault("sts", action, None, log["account"])
        if fault is not None:
            self.apply_fault(fault, "sts", action, log)
        try:
            if action not in STS_SIGNED | STS_UNSIGNED:
                raise STSError("InvalidAction",
                               "Could not find operation %s for version "
                               "2011-06-15" % action)
            if auth_err is not None and action in STS_SIGNED:
                code, status = STS_AUTH_CODES[auth_err.kind]
                raise STSError(code, auth_err.message, status)
            with emu.lock:
                result = getattr(emu.sts, action)(caller, form)
            self.send(200, sts_xml(action, result, rid), "text/xml",
                      [("x-amzn-RequestId", rid)])
        except STSError as e:
            log["error"] = e.code
            self.send(e.status, sts_error_xml(e, rid), "text/xml",
                      [("x-amzn-RequestId", rid)])
        self.finish_log(log)

    # -- IMDSv2 -----------------------------------------------------------
    def imds(self, path):
        emu = self.server.emu
        log = self.new_log("imds", "IMDS")
        fault = emu.take_fault("imds", "IMDS", None, None)
        if fault is not None:
            self.apply_fault(fault, "imds", "IMDS", log)
        cfg = emu.config
        if path == "/latest/api/token":
            if self.command != "PUT":
                self.send(405, b"", "text/plain")
            elif "x-forwarded-for" in self.hdrs:
                self.send(403, b"", "text/plain")
            else:
                try:
                    ttl = int(self.hdrs.get(
                        "x-aws-ec2-metadata-token-ttl-seconds", ""))
                except ValueError:
                    ttl = 0
                if not 1 <= ttl <= 21600:
                    self.send(400, b"", "text/plain")
                else:
                    tok = base64.b64encode(secrets.token_bytes(42)).decode()
                    with emu.lock:
                        now = emu.now()
                        if len(emu.imds_tokens) > 10000:
                            emu.imds_tokens = {
                                k: v for k, v in emu.imds_tokens.items()
                                if v > now}
                        emu.imds_tokens[tok] = now + ttl
                    self.send(200, tok.encode(), "text/plain", [
                        ("X-aws-ec2-metadata-token-ttl-seconds", str(ttl))])
            self.finish_log(log)
            return
        tok = self.hdrs.get("x-aws-ec2-metadata-token")
        with emu.lock:
            exp = emu.imds_tokens.get(tok) if tok else None
            valid = exp is not None and exp > emu.now()
        if self.command not in ("GET", "HEAD"):
            self.send(405, b"", "text/plain")
        elif tok is not None and not valid:
            self.send(401, b"", "text/plain")
        elif tok is None and not cfg["imds_v1"]:
            self.send(401, b"", "text/plain")
        else:
            self.imds_get(path, cfg)
        self.finish_log(log)

    def imds_get(self, path, cfg):
        emu = self.server.emu
        role = cfg["imds_role"]
        base = "/latest/meta-data/iam/security-credentials/"
        region = cfg["imds_region"]
        if path == base:
            if role:
                self.send(200, role.encode(), "text/plain")
            else:
                self.send(404, b"", "text/plain")
        elif path.startswith(base) and role and path[len(base):].rstrip(
                "/") == role:
            cred = emu.issue_temporary(
                "arn:aws:iam::%s:role/%s" % (cfg["imds_account"], role),
                "i-0123456789abcdef0", 21600)
            self.send_json(200, {
                "Code": "Success",
                "LastUpdated": iso8601(emu.now()),
                "Type": "AWS-HMAC",
                "AccessKeyId": cred["AccessKeyId"],
                "SecretAccessKey": cred["SecretAccessKey"],
                "Token": cred["SessionToken"],
                "Expiration": cred["ExpirationISO"]})
        elif path == "/latest/meta-data/placement/region":
            self.send(200, region.encode(), "text/plain")
        elif path == "/latest/meta-data/placement/availability-zone":
            self.send(200, (region + "a").encode(), "text/plain")
        elif path == "/latest/dynamic/instance-identity/document":
            self.send_json(200, {
                "accountId": cfg["imds_account"], "region": region,
                "availabilityZone": region + "a",
                "instanceId": "i-0123456789abcdef0",
                "instanceType": "t3.micro", "architecture": "x86_64",
                "imageId": "ami-0123456789abcdef0",
                "pendingTime": iso8601(emu.now() - 3600)})
        elif path == "/latest/meta-data/instance-id":
            self.send(200, b"i-0123456789abcdef0", "text/plain")
        else:
            self.send(404, b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>"
                      b"\n<html><body>404 - Not Found</body></html>\n",
                      "text/html")

    # -- container credentials --------------------------------------------
    def container(self, path):
        emu = self.server.emu
        log = self.new_log("container", "Container")
        fault = emu.take_fault("container", "Container", None, None)
        if fault is not None:
            self.apply_fault(fault, "container", "Container", log)
        cfg = emu.config
        want = cfg["container_token"]
        got = self.hdrs.get("authorization")
        if not path.startswith("/_creds/container/") or self.command != "GET":
            self.send_json(404, {"code": "NotFound",
                                 "message": "Not Found"})
        elif want is not None and got != want:
            self.send_json(401 if not got else 403, {
                "code": "AccessDeniedException",
                "message": "Authorization token is missing or invalid"})
        else:
            role_arn = cfg["container_role_arn"]
            cid = path[len("/_creds/container/"):] or "task"
            session = re.sub(r"[^\w+=,.@-]", "-", cid)[:64]
            if len(session) < 2:
                session = "task-" + session
            cred = emu.issue_temporary(role_arn, session, 21600)
            self.send_json(200, {
                "RoleArn": role_arn,
                "AccessKeyId": cred["AccessKeyId"],
                "SecretAccessKey": cred["SecretAccessKey"],
                "Token": cred["SessionToken"],
                "Expiration": cred["ExpirationISO"]})
        self.finish_log(log)

    # -- control API ------------------------------------------------------
    def control(self, path):
        emu = self.server.emu
        try:
            doc = json.loads(self.body) if self.body.strip() else {}
        except ValueError as e:
            self.send_json(400, {"error": "bad JSON: %s" % e})
            return
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            self.path).query))
        parts = [urllib.parse.unquote(p) for p in path.split("/")[2:] if p]
        try:
            status, out = Control(emu).handle(self.command, parts, doc, query)
        except (ValueError, KeyError, TypeError) as e:
            status, out = 400, {"error": str(e)}
        self.send_json(status, out)


class Control:
    """/_emu/... handlers: (method, path parts, JSON doc) -> (status, JSON)."""

    def __init__(self, emu):
        self.emu = emu

    def handle(self, method, parts, doc, query):
        emu = self.emu
        if not parts:
            return 200, {"endpoints": sorted(CONTROL_ENDPOINTS)}
        for module in (emu_keystore, emu_material):
            answer = module.control(self, method, parts, doc, query)
            if answer is not None:
                return answer
        head, rest = parts[0], parts[1:]
        if head == "reset" and method == "POST":
            emu.reset()
            if doc:
                self.seed(doc)
            return 200, {"ok": True}
        if head == "health":
            return 200, {"ok": True}
        if head == "state" and method == "GET":
            with emu.lock:
                return 200, {
                    "now": ts(emu.now()), "offset": emu.offset,
                    "config": emu.config,
                    "accounts": sorted({c["account"]
                                        for c in emu.creds.values()}),
                    "keys": {"%s/%s" % k: len(v)
                             for k, v in emu.keys.items() if v},
                    "faults": len(emu.faults)}
        if head == "seed" and method == "POST":
            return 200, self.seed(doc)
        if head == "config":
            if method == "POST":
                with emu.lock:
                    for k, v in doc.items():
                        if k not in DEFAULT_CONFIG:
                            raise ValueError("unknown config item %r" % k)
                        emu.config[k] = v
            return 200, dict(emu.config)
        if head == "accounts" and method == "POST":
            return 200, emu.add_credentials(
                doc.get("account", DEFAULT_ACCOUNT),
                doc.get("access_key_id"), doc.get("secret_access_key"),
                doc.get("arn"), doc.get("deny_actions"),
                doc.get("allow_actions"))
        if head == "accounts" and method == "GET":
            with emu.lock:
                return 200, {"credentials": [
                    {"AccessKeyId": k, "Account": c["account"],
                     "Arn": c["arn"], "kind": c["kind"],
                     "Expiration": c["expires"]}
                    for k, c in emu.creds.items()]}
        if head == "roles" and method == "POST":
            arn = doc["arn"]
            if not ROLE_ARN_RE.match(arn):
                raise ValueError("bad role ARN %r" % arn)
            with emu.lock:
                emu.roles[arn] = {
                    "trust": doc.get("trust"),
                    "web_identity_tokens": doc.get("web_identity_tokens"),
                    "web_identity": doc.get("web_identity", True),
                    "deny_actions": doc.get("deny_actions"),
                    "allow_actions": doc.get("allow_actions")}
            return 200, {"ok": True}
        if head == "credentials" and method == "POST":
            cred = emu.issue_temporary(
                doc.get("role_arn") or
                "arn:aws:iam::%s:role/kmsemu-role" % DEFAULT_ACCOUNT,
                doc.get("session_name", "kmsemu"), doc.get("lifetime"))
            cred.pop("ExpirationISO", None)
            cred["Expiration"] = ts(cred["Expiration"])
            return 200, cred
        if head == "clock":
            with emu.lock:
                if method == "POST":
                    if "now" in doc:
                        emu.offset = parse_time(doc["now"]) - time.time()
                    if "advance" in doc:
                        emu.offset += float(doc["advance"])
                    if doc.get("reset"):
                        emu.offset = 0.0
                    if "skew_check" in doc:
                        if doc["skew_check"] not in ("emulator", "real",
                                                     "off"):
                            raise ValueError("skew_check: emulator, real or "
                                             "off")
                        emu.config["skew_check"] = doc["skew_check"]
                    emu.touch()
                emu.sweep()
                return 200, {"now": ts(emu.now()), "offset": emu.offset,
                             "iso": iso8601(emu.now()),
                             "skew_check": emu.config["skew_check"]}
        if head == "keys":
            return self.keys(method, rest, doc, query)
        if head == "aliases":
            if method == "DELETE" or (rest and rest[-1] == "delete"):
                with emu.lock:
                    store = emu.alias_store(
                        str(doc.get("account", query.get(
                            "account", DEFAULT_ACCOUNT))),
                        doc.get("region", query.get("region",
                                                    DEFAULT_REGION)))
                    name = doc.get("AliasName") or "/".join(
                        [p for p in rest if p != "delete"])
                    if store.pop(name, None) is None:
                        return 404, {"error": "no alias %s" % name}
                return 200, {"ok": True}
            if method == "POST":
                emu.seed_alias(str(doc.get("account", DEFAULT_ACCOUNT)),
                               doc.get("region", DEFAULT_REGION),
                               doc["AliasName"], self._key(
                                   doc["TargetKeyId"], doc).id)
                return 200, {"ok": True}
            with emu.lock:
                return 200, {"aliases": [
                    {"account": a, "region": r, "AliasName": n,
                     "TargetKeyId": v["target"]}
                    for (a, r), al in emu.aliases.items()
                    for n, v in sorted(al.items())]}
        if head == "faults":
            if method == "POST" and not rest:
                specs = doc if isinstance(doc, list) else [doc]
                faults = [Fault(s) for s in specs]
                with emu.lock:
                    emu.faults.extend(faults)
                return 200, {"ids": [f.id for f in faults],
                             "id": faults[0].id if faults else None}
            if method == "DELETE" or (rest and rest[0] == "clear"):
                with emu.lock:
                    if rest and rest[0] != "clear":
                        fid = int(rest[0])
                        emu.faults = [f for f in emu.faults if f.id != fid]
                    else:
                        emu.faults = []
                return 200, {"ok": True}
            with emu.lock:
                return 200, {"faults": [f.view() for f in emu.faults
                                        if not f.expired()]}
        if head == "requests":
            if method == "DELETE" or (rest and rest[0] == "clear"):
                with emu.lock:
                    emu.log.clear()
                return 200, {"ok": True}
            emu.wait_logged()
            since = int(query.get("since", 0))
            op = query.get("operation")
            svc = query.get("service")
            with emu.lock:
                items = [dict(e) for e in emu.log
                         if e["seq"] > since
                         and (op is None or e["operation"] == op)
                         and (svc is None or e["service"] == svc)]
                return 200, {"requests": items, "last_seq": emu.seq}
        if head == "counters":
            if method == "DELETE" or (rest and rest[0] == "clear"):
                with emu.lock:
                    emu.counters = emu._new_counters()
                return 200, {"ok": True}
            emu.wait_logged()
            with emu.lock:
                return 200, json.loads(json.dumps(emu.counters))
        return 404, {"error": "no control endpoint %s %s"
                     % (method, "/".join(parts))}

    def _key(self, ident, doc, query=None):
        query = query or {}
        acct = doc.get("account") or query.get("account")
        region = doc.get("region") or query.get("region")
        with self.emu.lock:
            key = self.emu.find_key(ident, acct and str(acct), region)
        if key is None:
            raise KeyError("no such key %s" % ident)
        return key

    def keys(self, method, rest, doc, query):
        emu = self.emu
        if not rest:
            if method == "POST":
                specs = doc if isinstance(doc, list) else [doc]
                keys = [emu.seed_key(s) for s in specs]
                if isinstance(doc, list):
                    return 200, {"keys": [k.describe() for k in keys]}
                return 200, {"KeyMetadata": keys[0].describe(),
                             "Policy": keys[0].policy}
            emu.sweep()
            with emu.lock:
                out = []
                for (a, r), ks in emu.keys.items():
                    if query.get("account") and a != query["account"]:
                        continue
                    if query.get("region") and r != query["region"]:
                        continue
                    out.extend(k.view() for k in ks.values())
                return 200, {"keys": out}
        ident = "/".join(rest)
        action = None
        for suffix in ("/delete", "/update", "/replicas", "/rotate",
                       "/usage"):
            if ident.endswith(suffix):
                ident, action = ident[:-len(suffix)], suffix[1:]
        emu.sweep()
        try:
            key = self._key(ident, doc, query)
        except KeyError as e:
            return 404, {"error": str(e).strip("'\"")}
        if action == "delete" or method == "DELETE":
            with emu.lock:
                emu._delete_key(key)
            return 200, {"ok": True}
        if action == "update" or method in ("PATCH", "PUT"):
            fields = {k: v for k, v in doc.items()
                      if k not in ("account", "region")}
            emu.update_key(key, fields)
            return 200, {"KeyMetadata": key.describe()}
        if action == "replicas":
            with emu.lock:
                rep = emu.add_replica(key, doc["region"])
            return 200, {"KeyMetadata": rep.describe()}
        if action == "usage":
            return emu_usage.control(emu, key, doc)
        if action == "rotate":
            with emu.lock:
                emu._rotate(key, doc.get("type", "AUTOMATIC"), emu.now())
            return 200, {"KeyMetadata": key.describe()}
        with emu.lock:
            return 200, key.view()

    def seed(self, doc):
        emu = self.emu
        out = {"accounts": [], "keys": []}
        for a in doc.get("accounts", []):
            out["accounts"].append(emu.add_credentials(
                a.get("account", DEFAULT_ACCOUNT), a.get("access_key_id"),
                a.get("secret_access_key"), a.get("arn"),
                a.get("deny_actions"), a.get("allow_actions")))
        for r in doc.get("roles", []):
            self.handle("POST", ["roles"], r, {})
        if doc.get("config"):
            self.handle("POST", ["config"], doc["config"], {})
        for k in doc.get("keys", []):
            out["keys"].append(emu.seed_key(k).describe())
        for a in doc.get("aliases", []):
            self.handle("POST", ["aliases"], a, {})
        if "clock" in doc:
            self.handle("POST", ["clock"], doc["clock"], {})
        return out


CONTROL_ENDPOINTS = [
    "POST /_emu/reset", "GET /_emu/health", "GET /_emu/state",
    "POST /_emu/seed", "GET|POST /_emu/config", "GET|POST /_emu/accounts",
    "POST /_emu/roles", "POST /_emu/credentials", "GET|POST /_emu/clock",
    "GET|POST /_emu/keys", "GET /_emu/keys/<key>",
    "POST /_emu/keys/<key>/update", "POST /_emu/keys/<key>/delete",
    "POST /_emu/keys/<key>/replicas", "POST /_emu/keys/<key>/rotate",
    "POST /_emu/keys/<key>/usage",
    "GET|POST /_emu/aliases", "POST /_emu/aliases/<name>/delete",
    "GET|POST|DELETE /_emu/faults", "POST /_emu/faults/clear",
    "GET|DELETE /_emu/requests", "GET|DELETE /_emu/counters",
    "POST /_emu/keys/<key>/materials", "GET|POST /_emu/keystores",
    "POST /_emu/keystores/<id>/update",
]


emu_material.bind(globals())
emu_keystore.bind(globals())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    block_on_close = False

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="AWS KMS emulator for tests")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port; 0 picks a free one (default)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--seed", help="JSON seed file (see README)")
    ap.add_argument("--verbose", action="store_true",
                    help="log every HTTP request to stderr")
    ap.add_argument("--exit-after", type=float, default=None,
                    metavar="SECONDS",
                    help="stop by itself after this long (a safety net for "
                    "test runs that die without stopping it)")
    args = ap.parse_args(argv)
    emu = Emulator(verbose=args.verbose)
    if args.seed:
        with open(args.seed, encoding="utf-8") as f:
            Control(emu).seed(json.load(f))
    srv = Server((args.host, args.port), Handler)
    srv.emu = emu

    stopping = []

    def stop(signum, frame):
        # A second signal (Ctrl-C to the process group, then SIGTERM)
        # can arrive while the interpreter shuts down: raising again
        # there prints a traceback from threading._shutdown.
        if stopping:
            return
        stopping.append(signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_after:
        signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, args.exit_after)
    host, port = srv.server_address[:2]
    sys.stdout.write("kmsemu listening on %s:%d\n" % (host, port))
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.5)
    except SystemExit:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The KMS service model used by kmsemu and by the tests' boto3 clients.

Debian's python3-botocore ships an older KMS model that predates on-demand
rotation (RotateKeyOnDemand, ListKeyRotations, RotationPeriodInDays,
NextRotationDate), CurrentKeyMaterialId and the key materials of imported
keys (ListKeyRotations' IncludeKeyMaterial, and ImportState,
KeyMaterialState, ExpirationModel, ValidTo of each material).  keyhealthd relies on those, so
we overlay the missing parts on botocore's own model.  Anything botocore
already defines is left alone, so a newer botocore simply wins.

write_data_path(dir) writes the merged model where botocore's loader finds
it (AWS_DATA_PATH, or Loader.search_paths), so boto3 clients serialize and
parse the newer operations and members exactly like a current SDK.
"""

import copy
import json
import os

import botocore.loaders

API_VERSION = "2014-11-01"

_NEW_SHAPES = {
    "RotateKeyOnDemandRequest": {
        "type": "structure", "required": ["KeyId"],
        "members": {"KeyId": {"shape": "KeyIdType"}}},
    "RotateKeyOnDemandResponse": {
        "type": "structure",
        "members": {"KeyId": {"shape": "KeyIdType"}}},
    "ListKeyRotationsRequest": {
        "type": "structure", "required": ["KeyId"],
        "members": {"KeyId": {"shape": "KeyIdType"},
                    "IncludeKeyMaterial": {"shape": "IncludeKeyMaterial"},
                    "Limit": {"shape": "LimitType"},
                    "Marker": {"shape": "MarkerType"}}},
    "ListKeyRotationsResponse": {
        "type": "structure",
        "members": {"Rotations": {"shape": "RotationsList"},
                    "NextMarker": {"shape": "MarkerType"},
                    "Truncated": {"shape": "BooleanType"}}},
    "RotationsList": {"type": "list", "member": {"shape": "RotationsListEntry"}},
    "RotationsListEntry": {
        "type": "structure",
        "members": {"KeyId": {"shape": "KeyIdType"},
                    "KeyMaterialId": {"shape": "BackingKeyIdType"},
                    "KeyMaterialDescription": {
                        "shape": "KeyMaterialDescriptionType"},
                    "ImportState": {"shape": "ImportState"},
                    "KeyMaterialState": {"shape": "KeyMaterialState"},
                    "ExpirationModel": {"shape": "ExpirationModelType"},
                    "ValidTo": {"shape": "DateType"},
                    "RotationDate": {"shape": "DateType"},
                    "RotationType": {"shape": "RotationType"}}},
    "IncludeKeyMaterial": {"type": "string",
                           "enum": ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"]},
    "ImportState": {"type": "string",
                    "enum": ["IMPORTED", "PENDING_IMPORT"]},
    "KeyMaterialState": {
        "type": "string",
        "enum": ["NON_CURRENT", "CURRENT", "PENDING_ROTATION",
                 "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"]},
    "KeyMaterialDescriptionType": {"type": "string", "max": 256, "min": 0,
                                   "pattern": "^[a-zA-Z0-9:/_\\s.-]+$"},
    "RotationType": {"type": "string", "enum": ["AUTOMATIC", "ON_DEMAND"]},
    "RotationPeriodInDaysType": {"type": "integer", "max": 2560, "min": 90},
    "BackingKeyIdType": {"type": "string", "max": 64, "min": 64,
                         "pattern": "^[a-f0-9]+$"},
    "ConflictException": {
        "type": "structure",
        "members": {"message": {"shape": "ErrorMessageType"}},
        "exception": True},
}

_NEW_MEMBERS = {
    "KeyMetadata": {"CurrentKeyMaterialId": {"shape": "BackingKeyIdType"}},
    "GetKeyRotationStatusResponse": {
        "KeyId": {"shape": "KeyIdType"},
        "RotationPeriodInDays": {"shape": "RotationPeriodInDaysType"},
        "NextRotationDate": {"shape": "DateType"},
        "OnDemandRotationStartDate": {"shape": "DateType"}},
    "EnableKeyRotationRequest": {
        "RotationPeriodInDays": {"shape": "RotationPeriodInDaysType"}},
    "GetKeyPolicyResponse": {"PolicyName": {"shape": "PolicyNameType"}},
}

_ROTATION_ERRORS = ["NotFoundException", "DisabledException",
                    "KMSInvalidStateException", "ConflictException",
                    "DependencyTimeoutException", "InvalidArnException",
                    "KMSInternalException", "UnsupportedOperationException",
                    "LimitExceededException"]

_NEW_OPERATIONS = {
    "RotateKeyOnDemand": {
        "name": "RotateKeyOnDemand",
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "RotateKeyOnDemandRequest"},
        "output": {"shape": "RotateKeyOnDemandResponse"},
        "errors": [{"shape": e} for e in _ROTATION_ERRORS]},
    "ListKeyRotations": {
        "name": "ListKeyRotations",
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "ListKeyRotationsRequest"},
        "output": {"shape": "ListKeyRotationsResponse"},
        "errors": [{"shape": e} for e in
                   ["NotFoundException", "InvalidArnException",
                    "InvalidMarkerException", "KMSInternalException",
                    "UnsupportedOperationException"]]},
}

_cache = None


def _base_model():
    loader = botocore.loaders.Loader(include_default_search_paths=True)
    return loader.load_service_model("kms", "service-2", API_VERSION)


def load():
    """Return botocore's KMS model with the newer parts overlaid (a copy)."""
    global _cache
    if _cache is None:
        model = copy.deepcopy(_base_model())
        shapes = model["shapes"]
        for name, shape in _NEW_SHAPES.items():
            shapes.setdefault(name, shape)
        for shape, members in _NEW_MEMBERS.items():
            for name, ref in members.items():
                shapes[shape]["members"].setdefault(name, ref)
        # Newer SDKs make PolicyName optional (it defaults to "default").
        for shape in ("GetKeyPolicyRequest", "PutKeyPolicyRequest"):
            req = shapes[shape].get("required", [])
            if "PolicyName" in req:
                req.remove("PolicyName")
        ops = model["operations"]
        for name, op in _NEW_OPERATIONS.items():
            ops.setdefault(name, op)
        _cache = model
    return copy.deepcopy(_cache)


def write_data_path(directory):
    """Write the merged model below directory; return directory.

    Put directory first in AWS_DATA_PATH (or in a botocore Loader's
    search_paths) so botocore uses it instead of its bundled KMS model.
    """
    path = os.path.join(directory, "kms", API_VERSION)
    os.makedirs(path, exist_ok=True)
    target = os.path.join(path, "service-2.json")
    tmp = target + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(load(), f)
    os.replace(tmp, target)
    return directory

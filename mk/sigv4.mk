# lib/sigv4 and lib/creds: OpenSSL for SHA-256/HMAC, jansson for the test
# fixtures and JSON credential documents, botocore for the cross-check.
DEBS += libssl-dev libjansson-dev check python3-botocore python3-pytest

# KMS emulator (tests/kmsemu): Debian's python3 with botocore/boto3/pytest.
DEBS += python3-botocore python3-boto3 python3-pytest

KMSEMU_PORT ?= 4566

.PHONY: kmsemu kmsemu-test

# Run the emulator in the foreground: make kmsemu [KMSEMU_PORT=N]
kmsemu:
	$(PYTHON) tests/kmsemu/kmsemu.py --port $(KMSEMU_PORT)

# Only the emulator's own tests (make check runs them with the rest).
kmsemu-test:
	$(PYTHON) -m pytest -q -p no:cacheprovider \
		tests/integration/test_kmsemu.py

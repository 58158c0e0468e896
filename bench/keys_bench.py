"""Envelope-encryption benchmark on moto: KMS calls per 1,000 encrypted writes against one KMS call per
value, and warm-cache encrypt+decrypt throughput against Powertools data masking (AWS Encryption SDK).

Run with ``python -m bench`` (every bench) or ``python -m bench.keys_bench``. All ratios are measured in
this one run; moto stands in for KMS and DynamoDB, so absolute times exclude network latency (which
only widens the gap, since the naive design pays a KMS round trip per value).
"""

from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from habeas_local.testing import create_table_like

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = "habeas-bench"
THROUGHPUT_VALUES = 2000


def _ensure_encryption_sdk() -> bool:
    """Powertools' provider needs aws-encryption-sdk; install it into this venv if missing (bench only)."""
    if importlib.util.find_spec("aws_encryption_sdk"):
        return True
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "aws-encryption-sdk>=3,<5"], capture_output=True
    )
    importlib.invalidate_caches()
    return result.returncode == 0 and importlib.util.find_spec("aws_encryption_sdk") is not None


def _writes(cipher: Any, table: Any, subjects: list[str], per_subject: int) -> None:
    for subject_id in subjects:
        for i in range(per_subject):
            item = cipher.encrypt_item(
                subject_id,
                {"subject_id": subject_id, "sk": f"m{i:04d}", "body": f"message {i} of {subject_id}"},
                table=table.name,
                key_attributes=["subject_id", "sk"],
                encrypted_attributes=["body"],
            )
            table.put_item(Item=item)


class _NaiveCipher:
    """The design being compared against: a fresh KMS data key for every value."""

    def __init__(self, kms: Any, key_arn: str) -> None:
        self.kms, self.key_arn = kms, key_arn

    def encrypt_item(self, subject_id: str, item: dict, *, table: str, key_attributes: Any, encrypted_attributes: Any):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        sealed = dict(item)
        for attribute in encrypted_attributes:
            data_key = self.kms.generate_data_key(
                KeyId=self.key_arn,
                KeySpec="AES_256",
                EncryptionContext={"subject_id": subject_id, "deployment": DEPLOYMENT},
            )
            nonce = os.urandom(12)
            ct = AESGCM(data_key["Plaintext"]).encrypt(nonce, item[attribute].encode(), None)
            sealed[attribute] = (data_key["CiphertextBlob"] + nonce + ct).hex()
        return sealed


def main() -> None:
    """Print the KMS call ratios and the throughput ratio, all measured in this run."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        POWERTOOLS_TRACE_DISABLED="true",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    sdk_ready = _ensure_encryption_sdk()

    import boto3
    from moto import mock_aws

    from habeas import aws
    from habeas.keys import FieldCipher, KeyCache, Keyring

    print("keys bench (moto; one run)")
    with mock_aws():
        aws.reset()
        kms = boto3.client("kms")
        calls: collections.Counter[str] = collections.Counter()
        kms.meta.events.register("before-call.kms.*", lambda model, **_: calls.update([model.name]))
        key_arn = kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
        dynamodb = boto3.client("dynamodb")
        create_table_like(dynamodb, "KeyringTable", "keyring", ROOT / "template.yaml")
        create_table_like(dynamodb, "ConversationsTable", "conversations", ROOT / "template.yaml")
        table = boto3.resource("dynamodb").Table("conversations")

        def keyring() -> Keyring:
            return Keyring(
                table_name="keyring", kms_key_id=key_arn, deployment=DEPLOYMENT, cache=KeyCache(), kms=kms,
                dynamodb=dynamodb,
            )  # fmt: skip

        cases = [("1 subject x 1,000 writes", ["sub_solo"], 1000), ("100 subjects x 10 writes", None, 10)]
        for label, subjects, per_subject in cases:
            subjects = subjects or [f"sub_{n:03d}" for n in range(100)]
            calls.clear()
            _writes(FieldCipher(keyring()), table, subjects, per_subject)
            ours = sum(calls.values())
            calls.clear()
            _writes(_NaiveCipher(kms, key_arn), table, [f"naive_{s}" for s in subjects], per_subject)
            naive = sum(calls.values())
            print(
                f"  KMS calls per 1,000 encrypted writes, {label}: habeas.keys {ours}, one-key-per-value {naive}"
                f" -> {naive / max(ours, 1):.0f}x fewer"
            )

        # Warm-cache throughput on the same values.
        values = [f"Ada Lovelace {i} <ada{i}@example.com>" for i in range(THROUGHPUT_VALUES)]
        cipher = FieldCipher(keyring())
        where = {"table": "subjects", "item_key": {"subject_id": "sub_solo"}, "attribute": "full_name"}
        cipher.decrypt("sub_solo", cipher.encrypt("sub_solo", "warm-up", **where), **where)
        started = time.perf_counter()
        for value in values:
            assert cipher.decrypt("sub_solo", cipher.encrypt("sub_solo", value, **where), **where) == value
        ours_rate = len(values) / (time.perf_counter() - started)
        print(f"  encrypt+decrypt, warm cache: habeas.keys {ours_rate:,.0f} values/s")

        if not sdk_ready:
            print("  Powertools data masking ratio skipped: aws-encryption-sdk is not installed and could not be")
            return
        from aws_lambda_powertools.utilities.data_masking import DataMasking
        from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
            AWSEncryptionSDKProvider,
        )

        masking = DataMasking(provider=AWSEncryptionSDKProvider(keys=[key_arn]))
        context = {"subject_id": "sub_solo", "deployment": DEPLOYMENT}
        masking.decrypt(masking.encrypt("warm-up", **context), **context)
        started = time.perf_counter()
        for value in values:
            assert masking.decrypt(masking.encrypt(value, **context), **context) == value
        theirs_rate = len(values) / (time.perf_counter() - started)
        print(
            f"  encrypt+decrypt, warm cache: Powertools data masking (Encryption SDK, caching CMM) {theirs_rate:,.0f}"
            f" values/s -> habeas.keys {ours_rate / theirs_rate:.1f}x"
        )


if __name__ == "__main__":
    main()

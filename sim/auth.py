"""Kalshi request-signature verification against registered public keys.

A request carries KALSHI-ACCESS-KEY, KALSHI-ACCESS-SIGNATURE (base64 RSA-PSS, SHA-256, MGF1
SHA-256, salt = digest length) and KALSHI-ACCESS-TIMESTAMP (epoch ms) over
``timestamp + METHOD + path`` where the path has no query string.

Kalshi documents salt = digest length but accepts any salt length: clients that sign with the
maximum salt authenticate against production. The verifier reads the salt length from the
signature (``PSS.AUTO``) so that it is never stricter than Kalshi.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clock import Clock

log = logging.getLogger(__name__)

MAX_SKEW_MS = 10_000  # demo fixtures: +-5 s accepted, +-30 s rejected


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """A 401 with Kalshi's own body (demo fixtures auth__*.json)."""

    body: dict[str, Any]


def _err(code: str, message: str, details: str | None = None) -> AuthFailure:
    e: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        e["details"] = details
    return AuthFailure({"error": e})


MISSING_SIGNATURE = _err("signature_is_missing_from_headers", "signature is missing from headers")
MISSING_KEY = _err("key_id_is_missing_from_headers", "key id is missing from headers")
MISSING_TIMESTAMP = _err("timestamp_is_missing_from_headers", "timestamp is missing from headers")
EXPIRED = _err("header_timestamp_expired", "header timestamp expired")
UNKNOWN_KEY = _err("authentication_error", "authentication_error", "NOT_FOUND")
BAD_SIGNATURE = _err("authentication_error", "authentication_error", "INCORRECT_API_KEY_SIGNATURE")


class Verifier:
    def __init__(self, keys: Mapping[str, bytes], clock: Clock) -> None:
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        for key_id, pem in keys.items():
            key = serialization.load_pem_public_key(pem)
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("Kalshi API keys are RSA keys")
            self._keys[key_id] = key
        self._clock = clock

    def has_credentials(self, headers: Mapping[str, str]) -> bool:
        return any(
            h in headers
            for h in ("kalshi-access-key", "kalshi-access-signature", "kalshi-access-timestamp")
        )

    def check(self, headers: Mapping[str, str], method: str, path: str) -> AuthFailure | str:
        """The key id when the request is signed correctly, else the failure to send."""
        key_id = headers.get("kalshi-access-key")
        sig = headers.get("kalshi-access-signature")
        ts = headers.get("kalshi-access-timestamp")
        if not sig:
            return MISSING_SIGNATURE
        if not key_id:
            return MISSING_KEY
        if not ts:
            return MISSING_TIMESTAMP
        if not ts.isascii() or not ts.isdigit():
            return EXPIRED
        if abs(self._clock.now_ms() - int(ts)) > MAX_SKEW_MS:
            return EXPIRED
        key = self._keys.get(key_id)
        if key is None:
            return UNKNOWN_KEY
        try:
            raw = base64.b64decode(sig, validate=True)
            key.verify(
                raw,
                f"{ts}{method.upper()}{path}".encode(),
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                hashes.SHA256(),
            )
        except (InvalidSignature, binascii.Error, ValueError):
            log.info("bad signature for key %s on %s %s", key_id, method, path)
            return BAD_SIGNATURE
        return key_id

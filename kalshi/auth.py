"""Kalshi API-key request signing.

Kalshi signs ``timestamp_ms + METHOD + path`` where path starts at ``/trade-api/...`` and carries no
query string, with RSA-PSS over SHA-256, MGF1(SHA-256), salt length = digest length (32), base64.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clock import Clock
from errors import ConfigError

log = logging.getLogger(__name__)

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
WS_PATH = "/trade-api/ws/v2"


class KeyLoadError(ConfigError):
    """The private key file could not be read as an RSA key (the message never holds key bytes)."""


def load_private_key(pem: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM; PKCS#1 ('BEGIN RSA PRIVATE KEY') and PKCS#8 both work."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"not a usable PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyLoadError("Kalshi keys are RSA; this PEM holds another key type")
    return key


def load_private_key_file(path: str | Path) -> rsa.RSAPrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read private key file {path}: {exc.strerror}") from None
    return load_private_key(data)


def signing_path(url_or_path: str) -> str:
    """The path Kalshi signs: the URL path only, no scheme/host/query/fragment."""
    parts = urlsplit(url_or_path)
    return parts.path or "/"


def sign_message(key: rsa.RSAPrivateKey, message: bytes) -> str:
    sig = key.sign(
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size),
        hashes.SHA256(),
    )
    return base64.b64encode(sig).decode("ascii")


@dataclass(frozen=True, slots=True)
class Signer:
    """Produces Kalshi auth headers. The key object is kept out of the repr."""

    key_id: str
    key: rsa.RSAPrivateKey = field(repr=False)
    clock: Clock = field(repr=False)

    @classmethod
    def from_file(cls, key_id: str, path: str | Path, clock: Clock) -> Signer:
        return cls(key_id=key_id, key=load_private_key_file(path), clock=clock)

    def headers(self, method: str, url_or_path: str) -> dict[str, str]:
        ts = str(self.clock.now_ms())
        path = signing_path(url_or_path)
        message = (ts + method.upper() + path).encode("utf-8")
        return {
            HEADER_KEY: self.key_id,
            HEADER_SIGNATURE: sign_message(self.key, message),
            HEADER_TIMESTAMP: ts,
        }

    def ws_headers(self) -> dict[str, str]:
        """Headers for the WebSocket upgrade, which is signed as ``GET /trade-api/ws/v2``."""
        return self.headers("GET", WS_PATH)

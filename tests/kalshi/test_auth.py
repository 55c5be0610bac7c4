from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clock import ManualClock
from kalshi.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KeyLoadError,
    Signer,
    load_private_key,
    signing_path,
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def verify(key: rsa.RSAPrivateKey, sig_b64: str, message: bytes) -> None:
    key.public_key().verify(
        base64.b64decode(sig_b64),
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_pkcs1_and_pkcs8_keys_sign_verifiable(
    key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, tmp_path: Path
) -> None:
    data = pem(key, fmt)
    assert (b"BEGIN RSA PRIVATE KEY" in data) == (
        fmt is serialization.PrivateFormat.TraditionalOpenSSL
    )
    path = tmp_path / "k.pem"
    path.write_bytes(data)
    clock = ManualClock(1_781_159_351_556)
    signer = Signer.from_file("key-123", path, clock)
    h = signer.headers("get", "https://x.example/trade-api/v2/markets/trades?ticker=A&min_ts=5")
    assert h[HEADER_KEY] == "key-123" and h[HEADER_TIMESTAMP] == "1781159351556"
    verify(key, h[HEADER_SIGNATURE], b"1781159351556GET/trade-api/v2/markets/trades")
    with pytest.raises(InvalidSignature):  # the query string is not signed
        verify(key, h[HEADER_SIGNATURE], b"1781159351556GET/trade-api/v2/markets/trades?ticker=A")


def test_ws_headers_sign_upgrade_path(key: rsa.RSAPrivateKey) -> None:
    signer = Signer("kid", load_private_key(pem(key, serialization.PrivateFormat.PKCS8)),
                    ManualClock(42))  # fmt: skip
    h = signer.ws_headers()
    verify(key, h[HEADER_SIGNATURE], b"42GET/trade-api/ws/v2")
    assert "PRIVATE" not in repr(signer) and "kid" in repr(signer)


def test_signature_is_randomised_pss(key: rsa.RSAPrivateKey) -> None:
    signer = Signer("kid", key, ManualClock(1))
    a = signer.headers("POST", "/trade-api/v2/portfolio/orders")[HEADER_SIGNATURE]
    b = signer.headers("POST", "/trade-api/v2/portfolio/orders")[HEADER_SIGNATURE]
    assert a != b  # PSS salt
    verify(key, a, b"1POST/trade-api/v2/portfolio/orders")


def test_bad_keys(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError):
        load_private_key(b"-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(KeyLoadError, match="cannot read"):
        Signer.from_file("k", tmp_path / "missing.pem", ManualClock(0))


def test_signing_path() -> None:
    assert (
        signing_path("http://127.0.0.1:9/trade-api/v2/markets?limit=5") == "/trade-api/v2/markets"
    )
    assert signing_path("/trade-api/ws/v2") == "/trade-api/ws/v2"

"""Message signatures as the DCI standard describes them (``MsgSignature``).

The standard's text: the signature is over ``{header}+{message}``, written HTTP-Signature style,
``Signature: namespace="spdci", kidId="{sender_id}|{unique_key_id}|{algorithm}",
algorithm="ed25519", created="…", expires="…", headers="(created) (expires) digest",
signature="…"``. It names no canonical form for the digest. This module fixes one, the reading of
OpenSPP2's working implementation (``spp_dci/services/signing.py``): the digest is
``base64(SHA-256(JSON of {"header": header, "message": message} with sorted keys, no spaces,
UTF-8)))``, and the signed string is the three lines

    (created): <created>
    (expires): <expires>
    digest: SHA-256=<digest>

signed with Ed25519 and given base64 in ``signature="…"``. Our namespace is ``spdci`` as the
standard writes it (OpenSPP writes ``dci``; either is accepted). The registry's public key is
published as a JWK set at ``/.well-known/jwks.json`` (the standard's jwks_core API).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "ed25519"
NAMESPACES = ("spdci", "dci")
VALIDITY_SECONDS = 300  # how long a signature we make stays valid
CLOCK_SKEW_SECONDS = 60  # how far a sender's clock may be ahead of ours

_FIELD = re.compile(r'([A-Za-z]+)="([^"]*)"')


class SignatureError(Exception):
    """The signature is missing (``missing``) or does not verify (``invalid``), with why."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind, self.why = kind, why


def canonical(header: Mapping[str, Any], message: Any) -> str:
    """The JSON the digest is taken over: ``{"header", "message"}``, sorted keys, no spaces, UTF-8."""
    return json.dumps(
        {"header": header, "message": message}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def digest(header: Mapping[str, Any], message: Any) -> str:
    return _digest_of(canonical(header, message))


def _digest_of(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _signing_string(created: int, expires: int, body_digest: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: SHA-256={body_digest}".encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode_any(text: str) -> bytes:
    """Base64 in either alphabet, padded or not (JWK ``x`` is base64url without padding)."""
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@dataclass(frozen=True)
class SigningKey:
    """Our Ed25519 key: signs what we send, published as a JWK."""

    key_id: str
    private: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, key_id: str, seed: bytes) -> SigningKey:
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(seed))

    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def jwk(self) -> dict[str, str]:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.public_bytes()), "kid": self.key_id,
                "use": "sig", "alg": "EdDSA"}  # fmt: skip

    def sign(
        self, sender_id: str, header: Mapping[str, Any], message: Any, *, at: float | None = None
    ) -> str:
        return self._signature(sender_id, digest(header, message), at)

    def signed_body(self, sender_id: str, header: Mapping[str, Any], message: Any) -> bytes:
        """The signed envelope ``{"header", "message", "signature"}`` as JSON, serialised once: sorted,
        its keys come in that order, so its text up to the signature is the canonical text the digest
        is taken over. (Serialising the message for the digest and again for the answer was one of
        the larger costs of a search answering whole households.)"""
        text = canonical(header, message)
        signature = self._signature(sender_id, _digest_of(text), None)
        return (text[:-1] + ',"signature":' + json.dumps(signature, ensure_ascii=False) + "}").encode()

    def _signature(self, sender_id: str, body_digest: str, at: float | None) -> str:
        created = int(at if at is not None else time.time())
        expires = created + VALIDITY_SECONDS
        value = self.private.sign(_signing_string(created, expires, body_digest))
        return (
            f'Signature: namespace="spdci", kidId="{sender_id}|{self.key_id}|{ALGORITHM}", '
            f'algorithm="{ALGORITHM}", created="{created}", expires="{expires}", '
            f'headers="(created) (expires) digest", signature="{base64.b64encode(value).decode()}"'
        )


def public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(
    signature: str | None,
    header: Mapping[str, Any],
    message: Any,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    now: float | None = None,
) -> str:
    """Check ``signature`` over header and message with the sender's ``keys`` (key id -> key);
    return the key id used. Raises :class:`SignatureError`."""
    if not signature or not signature.strip():
        raise SignatureError("missing", "The envelope carries no signature; sign header and message.")
    fields = dict(_FIELD.findall(signature))
    wanted = ("kidId", "algorithm", "created", "expires", "signature")
    if any(name not in fields for name in wanted):
        raise SignatureError("invalid", "The signature is not in the standard's form (kidId, algorithm, "
                             "created, expires, headers, signature).")  # fmt: skip
    if fields.get("namespace", "spdci") not in NAMESPACES:
        raise SignatureError("invalid", "The signature's namespace must be spdci.")
    sender, _, rest = fields["kidId"].partition("|")
    key_id, _, algorithm = rest.partition("|")
    if sender != header.get("sender_id"):
        raise SignatureError("invalid", "The signature's kidId names another sender than the header.")
    if ALGORITHM not in (algorithm.lower(), fields["algorithm"].lower()):
        raise SignatureError("invalid", "Only ed25519 signatures are accepted.")
    key = keys.get(key_id)
    if key is None:
        raise SignatureError("invalid", f"No public key {key_id!r} is registered for sender {sender!r}.")
    try:
        created, expires = int(fields["created"]), int(fields["expires"])
        raw = b64decode_any(fields["signature"])
    except ValueError as exc:
        raise SignatureError("invalid", "The signature's created, expires or value is malformed.") from exc
    at = now if now is not None else time.time()
    if created > at + CLOCK_SKEW_SECONDS or expires < at - CLOCK_SKEW_SECONDS or expires <= created:
        raise SignatureError("invalid", "The signature has expired or is not valid yet.")
    try:
        key.verify(raw, _signing_string(created, expires, digest(header, message)))
    except InvalidSignature as exc:
        raise SignatureError("invalid", "The signature does not match header and message.") from exc
    return key_id

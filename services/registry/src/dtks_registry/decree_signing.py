"""The Ministry's decree signing key: signs each decree's tree head and endorses its successor.

Ed25519 (``cryptography``). The key is a 32-byte seed, hex, in ``DTKS_DECREE_SIGNING_KEY``. Outside
production a registry without one signs with a development key derived from a public salt, as the
event keys of dtks_runtime.provenance are: the local stack and the tests sign without setup, and
anyone can forge a development signature, which is why production refuses to start without a real
key (RegistrySettings.check_production_safety). A rotation sets the new key and, for one start, the
outgoing one in ``DTKS_DECREE_PREVIOUS_SIGNING_KEY`` so that the key event carries its endorsement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dtks_contracts.events.registry import DecreeSignature, DeterminationIssued
from dtks_contracts.tree_head import key_bytes, key_id, tree_head_bytes

_DEVELOPMENT_SEED: Final = hashlib.sha256(b"dtks-development-decree-key-not-for-production").digest()


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class DecreeSigner:
    private: Ed25519PrivateKey
    previous: Ed25519PrivateKey | None = None
    development: bool = False

    @classmethod
    def from_seeds(
        cls, seed_hex: str | None, previous_hex: str | None = None, *, production: bool
    ) -> DecreeSigner:
        if not seed_hex:
            if production:
                raise RuntimeError(
                    "DTKS_DECREE_SIGNING_KEY must give the Ministry's Ed25519 decree signing key (32-byte "
                    "seed, hex) in production: the development key is public"
                )
            return cls(Ed25519PrivateKey.from_private_bytes(_DEVELOPMENT_SEED), development=True)
        previous = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(previous_hex)) if previous_hex else None
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)), previous)

    @property
    def public_key(self) -> bytes:
        return _raw_public(self.private)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @property
    def previous_key_id(self) -> str | None:
        return key_id(_raw_public(self.previous)) if self.previous is not None else None

    def sign(self, decree: DeterminationIssued) -> DeterminationIssued:
        value = self.private.sign(tree_head_bytes(decree)).hex()
        return decree.model_copy(update={"signature": DecreeSignature(key_id=self.key_id, value=value)})

    def endorsement(self) -> str | None:
        """The outgoing key's signature over this key, if the outgoing key is at hand."""
        if self.previous is None:
            return None
        return self.previous.sign(key_bytes(self.key_id, self.public_key.hex())).hex()

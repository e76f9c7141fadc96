"""The Ministry's decree key: what it signs, who it refuses, and that production needs a real one."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dtks_contracts.actor import Actor
from dtks_contracts.events.registry import DeterminationIssued, Period, RegisterCounts
from dtks_contracts.merkle import MERKLE_ALGORITHM
from dtks_contracts.tree_head import key_bytes, tree_head_bytes
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.decree_signing import DecreeSigner
from dtks_registry.settings import RegistrySettings

AT = dt.datetime(2027, 1, 2, tzinfo=dt.UTC)
DECREE = DeterminationIssued(
    decree_number="2/HUK/2027", period=Period(year=2027, quarter=1), cut_off=AT, issued_at=AT,
    register_hash="ab" * 32, hash_algorithm=MERKLE_ALGORITHM, counts=RegisterCounts(households=3, people=9),
    issued_by=Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID"), tree_size=3,
)  # fmt: skip


def seed(n: int) -> str:
    return (bytes([n]) * 32).hex()


def test_a_signed_decree_verifies_under_its_key_and_not_under_another() -> None:
    signer = DecreeSigner.from_seeds(seed(7), production=True)
    signed = signer.sign(DECREE)
    assert signed.signature is not None and signed.signature.key_id == signer.key_id
    public = Ed25519PublicKey.from_public_bytes(signer.public_key)
    public.verify(bytes.fromhex(signed.signature.value), tree_head_bytes(signed))
    other = Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32).public_key()
    with pytest.raises(InvalidSignature):
        other.verify(bytes.fromhex(signed.signature.value), tree_head_bytes(signed))
    # The signature covers the head: the same signature on another root does not verify.
    altered = signed.model_copy(update={"register_hash": "cd" * 32})
    with pytest.raises(InvalidSignature):
        public.verify(bytes.fromhex(signed.signature.value), tree_head_bytes(altered))


def test_a_rotation_is_endorsed_by_the_outgoing_key() -> None:
    old = DecreeSigner.from_seeds(seed(1), production=True)
    new = DecreeSigner.from_seeds(seed(2), seed(1), production=True)
    assert new.previous_key_id == old.key_id != new.key_id
    endorsement = new.endorsement()
    assert endorsement is not None
    Ed25519PublicKey.from_public_bytes(old.public_key).verify(
        bytes.fromhex(endorsement), key_bytes(new.key_id, new.public_key.hex())
    )


def test_without_a_key_development_signs_with_the_public_development_key_and_production_refuses() -> None:
    development = RegistrySettings(env="development").decree_signer()
    assert (
        development.development
        and development.key_id == DecreeSigner.from_seeds(None, production=False).key_id
    )
    with pytest.raises(RuntimeError, match="DTKS_DECREE_SIGNING_KEY"):
        RegistrySettings(env="production").decree_signer()
    configured = RegistrySettings(env="production", decree_signing_key=seed(3)).decree_signer()
    assert not configured.development

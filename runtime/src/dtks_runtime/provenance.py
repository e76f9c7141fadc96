"""Event provenance: the outbox relay signs what it publishes; the audit trail refuses what it did not.

Broker ACLs (see deploy/local and the README) keep a service from writing another's topic, but the
audit history must not rest on the broker alone: an operator with broker credentials, a
misconfigured ACL or a plain-text listener would let anyone append "history". So every record the
relay publishes carries two headers:

- ``dtks.signer``: the service that published it (its outbox), e.g. ``registry``;
- ``dtks.signature``: HMAC-SHA256 of the record value under that service's event key, hex.

A consumer that checks provenance accepts a record only if the signature is valid under the key of
the service it names, and that service owns the record's topic (the first name segment after
``dtks.``, see :mod:`dtks_contracts.topics`) and the event's type (its first segment): a genuine
proposal event copied into the registry's topic is refused as well as a forged one.

Why HMAC-SHA256 and not Ed25519: the ``cryptography`` package is not among the project's locked
dependencies, and the standard library has HMAC. The price is that a verifier holds the keys of the
services it verifies, so it could sign as them; the broker ACLs (each principal writes only its own
topics) still stop it from writing there. Swapping in Ed25519 (public keys only at the verifier)
changes this module alone.

Where it is checked, and the cost. ``benchmarks/provenance_cost.py`` measured (CPU time, on a busy
2-core machine) about 3-4 µs to sign and 4-5 µs to verify a 1.5 KB envelope, 7-9 µs for 8 KB, against
13-18 µs to decode that envelope: a consumer at ~55,000 events/s (~18 µs each) would spend about a
fifth more per event. So only the registry's consumers (the audit history, the register, the public
copy) and the auditors' replay verify; the replay checks only the event types it applies (after its
byte sniff), which in the verification stream are a minority. The other consumers rely on the ACLs.
An Ed25519 verification is commonly quoted at tens of microseconds (not measured here: the package
is not installed), which would make the replay's checked events several times dearer.

Keys come from ``DTKS_EVENT_KEYS`` (JSON: service -> secret). Outside production a service without
a configured key gets a development key derived from its name, so the local stack and tests sign
and verify without setup; in production a missing key refuses to start, like the JWT secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

SIGNER_HEADER: Final = "dtks.signer"
SIGNATURE_HEADER: Final = "dtks.signature"

# The services that own topics (the first segment of "dtks.<owner>.<...>" and of event types).
TOPIC_OWNERS: Final = frozenset({"proposal", "verification", "registry", "notification", "complaint"})

_DEVELOPMENT_SALT: Final = b"dtks-development-event-key-not-for-production:"


class ProvenanceError(ValueError):
    """A record whose producer is not who the audit trail requires (unsigned, forged, misplaced).

    A ValueError, so a consumer dead-letters the record as it does an undecodable one."""


def development_key(service: str) -> bytes:
    """The key a service signs with when none is configured: known to anyone who reads this file,
    which is fine on a laptop and why production refuses it."""
    return hashlib.sha256(_DEVELOPMENT_SALT + service.encode()).digest()


def event_keys(
    configured: Mapping[str, str], *, production: bool, services: Iterable[str]
) -> dict[str, bytes]:
    """The keys of ``services``: configured ones as given, the others development keys, or a
    RuntimeError in production naming what is missing."""
    missing = sorted(s for s in services if not configured.get(s))
    if production and missing:
        raise RuntimeError(
            f"DTKS_EVENT_KEYS must give the event signing key of {', '.join(missing)} in production"
        )
    keys = {s: development_key(s) for s in missing}
    keys.update({s: k.encode() for s, k in configured.items() if k})
    return keys


def _mac(key: bytes, value: bytes) -> bytes:
    # hmac.digest is the one-shot C path: about a third of hmac.new(...).hexdigest()'s cost.
    return hmac.digest(key, value, "sha256").hex().encode()


@dataclass(frozen=True, slots=True)
class EventSigner:
    """Signs the records one service's relay publishes."""

    service: str
    key: bytes

    def headers(self, value: bytes) -> list[tuple[str, bytes]]:
        return [(SIGNER_HEADER, self.service.encode()), (SIGNATURE_HEADER, _mac(self.key, value))]


def topic_owner(topic: str, prefix: str = "") -> str | None:
    """The service that owns a domain topic ("dtks.registry.events" -> "registry"), else None
    (dead-letter and retry topics: there the event type's owner decides)."""
    name = topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "dtks" and parts[1] in TOPIC_OWNERS:
        return parts[1]
    return None


@dataclass(frozen=True)
class ProvenanceCheck:
    """Verifies that records come from the owner of their topic and event type."""

    keys: Mapping[str, bytes]  # service -> key, for every owner whose events are checked
    topic_prefix: str = ""

    def signer(self, topic: str, headers: Iterable[tuple[str, bytes]] | None, value: bytes) -> str:
        """The service that signed the record, after checking the signature and the topic's owner.
        Raises ProvenanceError with a reason an operator can read in the dead letter."""
        signer = signature = None
        for name, data in headers or ():
            if name == SIGNER_HEADER:
                signer = data.decode(errors="replace")
            elif name == SIGNATURE_HEADER:
                signature = data
        if signer is None or signature is None:
            raise ProvenanceError(
                f"unsigned event: no {SIGNER_HEADER}/{SIGNATURE_HEADER} header; not from a DTKS relay"
            )
        key = self.keys.get(signer)
        if key is None:
            raise ProvenanceError(
                f"forged event: signer {signer!r} is not a service whose events are accepted"
            )
        if not hmac.compare_digest(signature, _mac(key, value)):
            raise ProvenanceError(f"forged event: signature does not match the key of {signer!r}")
        owner = topic_owner(topic, self.topic_prefix)
        if owner is not None and owner != signer:
            raise ProvenanceError(
                f"forged event: signed by {signer!r} on {topic}, which only {owner!r} may write"
            )
        return signer

    @staticmethod
    def check_event_type(signer: str, event_type: str) -> None:
        """The signer must own the event's type too (a signed event moved through a retry topic)."""
        owner = event_type.partition(".")[0]
        if owner != signer:
            raise ProvenanceError(f"forged event: {event_type} signed by {signer!r}, not by {owner!r}")

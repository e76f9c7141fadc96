"""The Ministry's keys as an auditor trusts them, and Ed25519 checks of tree heads and rotations.

Trust starts from keys the auditor got by other means (the project's docs, the Ministry's
well-known endpoint, a letter): ``--public-key``. A rotation event is followed only when the key
it replaces endorsed it. Without any key given, the first key recorded in the log is taken, and the
report says so: the log then proves itself consistent, not that the Ministry signed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dtks_contracts.events.registry import DecreeKeyActivated
from dtks_contracts.tree_head import key_bytes, key_id


def signature_valid(public_key_hex: str, signature_hex: str, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(signature_hex), data
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class TrustedKeys:
    keys: dict[str, str] = field(default_factory=dict)  # key id -> public key hex
    notes: list[str] = field(default_factory=list)
    first_key_from_log: bool = False

    @classmethod
    def of(cls, public_keys: Iterable[str]) -> TrustedKeys:
        return cls({key_id(bytes.fromhex(k)): k.lower() for k in public_keys})

    def follow(self, rotations: Iterable[DecreeKeyActivated]) -> None:
        """Take in the rotations recorded in the log, oldest first."""
        for event in sorted(rotations, key=lambda e: e.activated_at):
            if key_id(bytes.fromhex(event.public_key)) != event.key_id:
                self.notes.append(f"key event {event.key_id}: the key id does not match its public key")
                continue
            if event.key_id in self.keys:
                continue
            if not self.keys:
                self.keys[event.key_id] = event.public_key
                self.first_key_from_log = True
                self.notes.append(
                    f"no --public-key given: trusting the first key in the log, {event.key_id}; "
                    "compare it with the Ministry's published key"
                )
                continue
            previous = self.keys.get(event.previous_key_id or "")
            if (
                previous
                and event.endorsement
                and signature_valid(previous, event.endorsement, key_bytes(event.key_id, event.public_key))
            ):
                self.keys[event.key_id] = event.public_key
                self.notes.append(f"key {event.key_id} endorsed by {event.previous_key_id}: trusted")
            else:
                self.notes.append(
                    f"key {event.key_id} is not endorsed by a trusted key: decrees it signs are refused "
                    "unless it is given with --public-key"
                )

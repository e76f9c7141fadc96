"""What the Ministry signs for each decree, as bytes anyone can rebuild from the decree event.

The tree head: the decree's number, period, tree size, root, the previous decree's number and
register hash (the chain: history cannot be rewritten without breaking every later signature), and
the time of issue. Signed bytes = the line ``dtks-decree-tree-head-v1`` and a newline, then the
head as JSON with keys sorted, separators ',' and ':', ASCII only:
``{"decree_number":..,"issued_at":"<RFC 3339, UTC, as in the event>","period":"YYYY-Qn",
"previous_decree":..|null,"previous_register_hash":..|null,"register_hash":..,"tree_size":..}``.
The signature is Ed25519 (RFC 8032) over those bytes by the key whose ``key_id`` it names: the
first 16 hex digits of SHA-256 over the raw 32-byte public key.

A key rotation signs, with the outgoing key, ``dtks-decree-key-v1``, a newline and
``<key_id>\\t<public key hex>`` of the incoming one. Only the bytes live here (standard library);
signing and verifying need an Ed25519 library (the registry and dtks-audit use ``cryptography``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from dtks_contracts.events.registry import DeterminationIssued

TREE_HEAD_CONTEXT: Final = b"dtks-decree-tree-head-v1\n"
KEY_CONTEXT: Final = b"dtks-decree-key-v1\n"


def tree_head(decree: DeterminationIssued) -> dict[str, Any]:
    issued_at = decree.model_dump(mode="json", include={"issued_at"})["issued_at"]
    return {
        "decree_number": decree.decree_number,
        "issued_at": issued_at,
        "period": decree.period.label,
        "previous_decree": decree.previous_decree,
        "previous_register_hash": decree.previous_register_hash,
        "register_hash": decree.register_hash,
        "tree_size": decree.tree_size,
    }


def tree_head_bytes(decree: DeterminationIssued) -> bytes:
    return signed_bytes(tree_head(decree))


def signed_bytes(head: dict[str, Any]) -> bytes:
    """The bytes signed for a tree head as :func:`tree_head` gives it (or a proof file carries it)."""
    return TREE_HEAD_CONTEXT + json.dumps(head, sort_keys=True, separators=(",", ":")).encode()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def key_bytes(key_id_: str, public_key_hex: str) -> bytes:
    return KEY_CONTEXT + f"{key_id_}\t{public_key_hex}".encode()

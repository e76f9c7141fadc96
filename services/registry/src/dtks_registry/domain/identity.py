"""Register ids that a replay reproduces.

A household's register id is derived from the proposal that brought it in, never drawn at random:
rebuilding the register from the event log must give every household the same id it had, or the
decree hash (which is keyed by id) could not be reproduced.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

# Fixed forever: changing it would renumber the whole register.
HOUSEHOLD_NAMESPACE: Final = uuid.UUID("6f1c3f0e-4d0b-5b7e-9a55-2c1d7e0d7a31")


def household_id_for(proposal_id: str) -> str:
    """The register id of the household a new-household proposal brings into the register."""
    return name_based_id(HOUSEHOLD_NAMESPACE, proposal_id)


def name_based_id(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, the same text (RFC 4122 §4.3; a test compares them), at
    a third of the cost: a decree derives a million of them, and ``uuid.UUID`` builds and checks an
    object only for its text to be taken."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# A namespace of its own, so an institution's id can never equal a household's (the register hash
# separates their leaves too). Fixed forever, like the households'.
INSTITUTION_NAMESPACE: Final = uuid.UUID("b8a2d0c4-7e15-5f3a-8c61-4e9d2a7b1f05")


def institution_id_for(proposal_id: str) -> str:
    """The register id of the institution a registration proposal brings into the register."""
    return name_based_id(INSTITUTION_NAMESPACE, proposal_id)

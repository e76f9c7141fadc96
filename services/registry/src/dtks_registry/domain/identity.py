"""Register ids that a replay reproduces.

A household's register id is derived from the proposal that brought it in, never drawn at random:
rebuilding the register from the event log must give every household the same id it had, or the
decree hash (which is keyed by id) could not be reproduced.
"""

from __future__ import annotations

import uuid
from typing import Final

# Fixed forever: changing it would renumber the whole register.
HOUSEHOLD_NAMESPACE: Final = uuid.UUID("6f1c3f0e-4d0b-5b7e-9a55-2c1d7e0d7a31")


def household_id_for(proposal_id: str) -> str:
    """The register id of the household a new-household proposal brings into the register."""
    return str(uuid.uuid5(HOUSEHOLD_NAMESPACE, proposal_id))


# A namespace of its own, so an institution's id can never equal a household's (the register hash
# separates their leaves too). Fixed forever, like the households'.
INSTITUTION_NAMESPACE: Final = uuid.UUID("b8a2d0c4-7e15-5f3a-8c61-4e9d2a7b1f05")


def institution_id_for(proposal_id: str) -> str:
    """The register id of the institution a registration proposal brings into the register."""
    return str(uuid.uuid5(INSTITUTION_NAMESPACE, proposal_id))

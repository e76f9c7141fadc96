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

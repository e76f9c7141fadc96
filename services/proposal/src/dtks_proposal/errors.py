"""The proposal service's refusals: stable codes, the sentences an operator acts on, and one table
from code to HTTP status (handed to ``create_app``). Handlers and the domain raise DomainErrors; only
this table knows HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic

from dtks_runtime.errors import DomainError
from dtks_runtime.problems import validation_errors

PROPOSAL_ID_TAKEN = "proposal_id_taken"
# A batch (an import's chunk) naming one proposal id twice: the first item has it.
PROPOSAL_ID_REPEATED = "proposal_id_repeated"

ERROR_STATUSES: dict[str, int] = {
    "invalid_proposal": 422,
    "proposal_window_closed": 409,
    "quota_exceeded": 409,
    # A freeze of new proposals holds (dtks_runtime.freezes): refused for a while, not for good.
    "frozen": 423,
    "idempotency_key_reused": 409,
    PROPOSAL_ID_TAKEN: 409,
    PROPOSAL_ID_REPEATED: 409,
    "proposal_not_found": 404,
    "proposal_not_returned": 409,
    "proposal_decided": 409,
    "proposal_changed": 409,
    "invalid_cursor": 422,
    "batch_too_large": 413,
    "invalid_region": 422,
    "file_too_large": 413,
    "file_unreadable": 422,
    "import_not_found": 404,
    "import_completed": 409,
    "invalid_regency": 422,
    "invalid_period": 422,
    # Institutions (LKS): a role entering a kind it may not, an operator of another institution.
    "kind_not_allowed": 403,
    "other_institution": 403,
    # An institution's assistance (domain/assistance.py): what the register says refuses it.
    "institution_not_found": 404,
    "institution_closed": 409,
    "accreditation_expired": 422,
    "not_accredited": 422,
    "not_a_resident": 422,
}


def invalid(errors: Sequence[dict[str, Any]]) -> DomainError:
    names = ", ".join(sorted({e["field"] for e in errors}))
    return DomainError("invalid_proposal", f"The proposal has fields to correct: {names}.", errors=errors)


def invalid_contract(exc: ValueError, *, within: str = "") -> DomainError:
    """A proposal the contracts refused (pydantic's errors, or a plain ValueError), each field named."""
    if isinstance(exc, pydantic.ValidationError):
        return invalid(validation_errors(exc.errors(), within=within))
    return invalid([{"field": "request", "message": str(exc), "type": "invalid"}])


def proposal_not_found(proposal_id: str) -> DomainError:
    return DomainError("proposal_not_found", f"There is no proposal {proposal_id}; check the id.")


def proposal_id_taken(proposal_id: str) -> DomainError:
    return DomainError(
        PROPOSAL_ID_TAKEN,
        f"Proposal id {proposal_id} already names another proposal; use a new id for a new proposal.",
    )


def proposal_changed() -> DomainError:
    return DomainError("proposal_changed", "The proposal changed meanwhile; load it and try again.")


def import_not_found(import_id: object) -> DomainError:
    return DomainError("import_not_found", f"There is no import {import_id}; check the id.")

"""The complaints service's refusals: stable codes, sentences to act on, and the one table to HTTP."""

from __future__ import annotations

from dtks_runtime.errors import DomainError

ERROR_STATUSES: dict[str, int] = {
    "invalid_complaint": 422,
    "too_many_requests": 429,
    "complaint_not_found": 404,
    "tracking_code_unknown": 404,
    "complaint_closed": 409,
    "complaint_linked": 409,
    "complaint_changed": 409,
    "closing_reason_not_allowed": 422,
    "draft_not_found": 404,
    "draft_confirmed": 409,
    "draft_dismissed": 409,
}


def complaint_not_found(complaint_id: str) -> DomainError:
    return DomainError("complaint_not_found", f"There is no complaint {complaint_id}; check the id.")


def tracking_code_unknown() -> DomainError:
    # The same answer for a code never given and a mistyped one: nothing to learn by trying.
    return DomainError(
        "tracking_code_unknown",
        "No complaint has this tracking code; check it against the one you were given.",
    )


def too_many(wait: float, what: str) -> DomainError:
    seconds = int(wait) + 1
    return DomainError(
        "too_many_requests",
        f"Too many {what}; try again in {seconds} seconds.",
        extra={"retry_after": seconds},
    )


def draft_not_found(draft_id: str) -> DomainError:
    return DomainError("draft_not_found", f"There is no life-event draft {draft_id}; check the id.")

"""A reason's sentence from the contracts, for the pages that list reasons and findings."""

from __future__ import annotations

from typing import Any

from dtks_contracts.vocabulary.reasons import ReasonCode, describe


def reason_sentence(code: Any) -> str:
    """For a code, its sentence; for a finding (a dict with its own message), that message."""
    if isinstance(code, dict):
        return str(code.get("message") or code.get("code"))
    try:
        return describe(ReasonCode(code))
    except ValueError:
        return str(code)

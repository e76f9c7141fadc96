"""A returned proposal's latest return and its reasons, as the proposal page and the resubmission
form show them (pages.py gives both to every template)."""

from __future__ import annotations

from typing import Any

from dtks_contracts.vocabulary.reasons import ReasonCode, describe


def _returns(proposal: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in proposal.get("timeline") or [] if e.get("event", "").endswith("returned_at_tier")]


def latest_return(proposal: dict[str, Any]) -> dict[str, Any] | None:
    returns = _returns(proposal)
    return returns[-1] if returns else None


def return_reasons(proposal: dict[str, Any]) -> list[dict[str, str]]:
    """The reasons of the proposal's latest return, each as its code and the contracts' sentence."""
    latest = latest_return(proposal)
    if latest is None:
        return []
    reasons = []
    for reason in latest.get("reasons") or []:
        code = str(reason.get("code") if isinstance(reason, dict) else reason)
        try:
            sentence = describe(ReasonCode(code))
        except ValueError:
            sentence = str(reason.get("message") if isinstance(reason, dict) else "") or code
        finding = str(reason.get("message") or "") if isinstance(reason, dict) else ""
        reasons.append({"code": code, "sentence": sentence, "finding": finding})
    return reasons

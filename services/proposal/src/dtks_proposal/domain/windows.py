"""Proposal windows and quotas the Ministry sets per regency.

Opt-in: a regency the Ministry has set nothing for admits proposals at any time without a quota.
A window admits a first submission if it is open, today lies in its period (when one is set), and
the quota of the period (when one is set) is not used up. Resubmissions of returned proposals are
corrections of work already admitted, so they pass a closed window and do not count.

A :class:`Refusal` is the rule's answer (the reason code, a sentence, until when); the service raises
it as a :class:`~dtks_runtime.errors.DomainError` (:meth:`Refusal.as_error`) whose code is the reason
code in lower case (``proposal_window_closed``, ``quota_exceeded``), with the reason code and
``until`` in the problem document; the service's table answers both with 409.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dtks_contracts.vocabulary.reasons import ReasonCode
from dtks_runtime.errors import DomainError


@dataclass(frozen=True)
class Window:
    regency_code: str
    is_open: bool
    period_start: dt.date | None
    period_end: dt.date | None
    quota: int | None
    used: int


@dataclass(frozen=True)
class Refusal:
    """Why a first submission may not enter now, and until when (None: nobody knows yet)."""

    code: ReasonCode
    message: str
    until: dt.date | None

    def as_error(self) -> DomainError:
        return DomainError(
            self.code.value.lower(),
            self.message,
            extra={"reason_code": self.code.value, "until": self.until.isoformat() if self.until else None},
        )


def admits(window: Window | None, today: dt.date) -> Refusal | None:
    """None if a first submission may enter now; else why not and until when."""
    if window is None:
        return None
    regency = window.regency_code
    if not window.is_open:
        if window.period_start is not None and window.period_start > today:
            return Refusal(
                ReasonCode.PROPOSAL_WINDOW_CLOSED,
                f"The proposal window of regency {regency} is closed until {window.period_start.isoformat()}; "
                "keep the proposal and submit it then.",
                window.period_start,
            )
        return Refusal(
            ReasonCode.PROPOSAL_WINDOW_CLOSED,
            f"The proposal window of regency {regency} is closed until the Ministry opens it again; "
            "keep the proposal and submit it then.",
            None,
        )
    if window.period_start is not None and today < window.period_start:
        return Refusal(
            ReasonCode.PROPOSAL_WINDOW_CLOSED,
            f"The proposal window of regency {regency} opens on {window.period_start.isoformat()}; "
            "submit the proposal from then on.",
            window.period_start,
        )
    if window.period_end is not None and today > window.period_end:
        return Refusal(
            ReasonCode.PROPOSAL_WINDOW_CLOSED,
            f"The proposal window of regency {regency} closed on {window.period_end.isoformat()}; "
            "keep the proposal for the next window the Ministry opens.",
            None,
        )
    if window.quota is not None and window.used >= window.quota:
        until = window.period_end + dt.timedelta(days=1) if window.period_end else None
        when = (
            f"after {window.period_end.isoformat()}" if window.period_end else "when the Ministry raises it"
        )
        return Refusal(
            ReasonCode.QUOTA_EXCEEDED,
            f"Regency {regency} has used its quota of {window.quota} proposals for this period; "
            f"submit again {when}.",
            until,
        )
    return None


def regency_of(village_code: str) -> str:
    return village_code[:5]

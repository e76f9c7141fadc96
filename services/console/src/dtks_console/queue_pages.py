"""A verifier's queue: their tier's proposals in their region, oldest first, with the freezes that stop
the tier's decisions; and one proposal forwarded or returned from it (the console keeps each form's
first answer, so a double click or a resent form records one decision, not two)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dtks_console.access import access_of
from dtks_console.freeze_banner import freezes_stopping
from dtks_console.pages import render
from dtks_console.reason_text import reason_sentence
from dtks_console.sessions import Session
from dtks_contracts.vocabulary.reasons import REVIEW_CODES
from dtks_contracts.vocabulary.tiers import TIER_ROLE

router = APIRouter()
# The verification API's name of the tier each verifying role works at.
_API_TIER = {"district": "district", "regency": "regency", "ratification": "regent", "province": "province"}
QUEUE_OF_ROLE = {role: _API_TIER.get(tier.value, tier.value) for tier, role in TIER_ROLE.items()}
PAGE_SIZE = 20
ANSWERS_KEPT = 500  # decisions per session whose answer a resend gets again


@router.get("/queue")
async def queue(request: Request, after: str = "", order: str = "oldest") -> Response:
    session, token = await access_of(request).signed_in(request)
    # Oldest first is the fair order of work; newest first finds what just arrived.
    return await queue_page(
        request, session, token, after=after, order="newest" if order == "newest" else "oldest"
    )


async def queue_page(
    request: Request,
    session: Session,
    token: str,
    *,
    after: str = "",
    order: str = "oldest",
    done: dict[str, Any] | None = None,
) -> Response:
    access = access_of(request)
    user = access.person(session)
    tier = QUEUE_OF_ROLE.get(user["role"])
    answer = None
    freezes: list[dict[str, Any]] = []
    if tier is not None:
        # The queue and the freezes are asked at once: the page waits for the slower, not the sum.
        freezes_asked = asyncio.create_task(freezes_stopping(request, token, "tier_decisions"))
        try:
            answer = await access.call(
                request,
                "verification",
                "GET",
                f"/queues/{tier}",
                token,
                params={"after": after, "limit": PAGE_SIZE, "order": order},
            )
        except BaseException:
            freezes_asked.cancel()
            raise
        freezes = await freezes_asked
    return render(
        request,
        "queue.html",
        user=user,
        csrf=session.csrf,
        tier=tier,
        items=answer.body.get("items", []) if answer and answer.ok else [],
        next_after=answer.body.get("next_after") if answer and answer.ok else None,
        order=order,
        problem=answer.problem() if answer and not answer.ok else None,
        reasons=sorted(REVIEW_CODES),
        new_key=_new_key,
        describe=reason_sentence,
        done=done,
        freezes=freezes,
    )


def _new_key() -> str:
    """An idempotency key for one form (any unique text): 128 random bits in hex, a quarter of the
    cost of a UUID object made and printed, twenty-one times a page."""
    return secrets.token_hex(16)


@router.post("/queue/decisions")
async def decide(request: Request) -> Response:
    access = access_of(request)
    # Signed in first, the form read after: a person whose session ended is sent to sign in,
    # whatever the form held.
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    proposal_id, decision = form.get("proposal_id", ""), form.get("decision", "")
    reason, note = form.get("reason", ""), form.get("note", "")
    idempotency_key = form.get("idempotency_key") or str(uuid.uuid4())
    user = access.person(session)
    tier = QUEUE_OF_ROLE.get(user["role"])
    # The verification service has no idempotency key: the console keeps the first answer of each
    # form it rendered, so a double click or a resent form records one decision, not two.
    result = session.answered.get(idempotency_key)
    if result is None:
        body: dict[str, Any] = {"proposal_id": proposal_id, "tier": tier, "decision": decision}
        if reason:
            body["reasons"] = [reason]
        if note.strip():
            body["note"] = note.strip()
        answer = await access.call(request, "verification", "POST", "/decisions", token, json=body)
        result = {
            "proposal_id": proposal_id,
            "decision": decision,
            "ok": answer.ok,
            "problem": None if answer.ok else answer.problem(),
            # What was typed, so a refused decision's form comes back as it was sent.
            "typed": None if answer.ok else {"reason": reason, "note": note},
        }
        session.answered[idempotency_key] = result
        if len(session.answered) > ANSWERS_KEPT:
            del session.answered[next(iter(session.answered))]  # the oldest
        await access.save_session(request, session)
    if request.headers.get("hx-request"):
        return render(
            request,
            "queue_result.html",
            done=result,
            user=user,
            csrf=session.csrf,
            reasons=sorted(REVIEW_CODES),
            new_key=_new_key,
            describe=reason_sentence,
        )
    return await queue_page(request, session, token, done=result)

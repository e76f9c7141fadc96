"""The proposal a life-event draft calls for, as the form the village operator checks before sending
it: the registered household changed as the life event says (the member who died or moved out
taken off, the child born added, the new family card number), or a deactivation with its reason and
evidence. Pure: the draft and the register's record in, forms and bodies out. No I/O."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from dtks_console.household_form import HouseholdForm
from dtks_console.village_forms import DeactivationForm, household_form, merged_household
from dtks_contracts.vocabulary.complaints import DraftDismissalReason

DISMISSAL_REASONS = tuple(r.value for r in DraftDismissalReason)


def changed_household(draft: Mapping[str, Any], household: Mapping[str, Any]) -> dict[str, Any]:
    """The registered household as the life event leaves it. The form is filled from this and sent
    over it (:func:`merged_household` keeps each member's fields the form does not show, by row), so
    both must start from the same list of members."""
    changed = copy.deepcopy(dict(household))
    event = draft.get("life_event") or {}
    kind = str(draft.get("event_type", ""))
    members = list(changed.get("members") or [])
    if kind in ("civil_registry.person_died", "civil_registry.person_moved"):
        members = [m for m in members if m.get("nik") != draft.get("nik")]
    elif kind == "civil_registry.child_born":
        if not any(m.get("nik") == draft.get("nik") for m in members):
            # The name and sex are not in the civil registry's event: the operator types them.
            members.append(
                {"nik": draft.get("nik"), "birth_date": event.get("born_on"), "relation_to_head": "child"}
            )
    elif kind == "civil_registry.family_card_changed" and event.get("new_kk_number"):
        changed["kk_number"] = event["new_kk_number"]
    changed["members"] = members
    return changed


def correction_form(
    draft: Mapping[str, Any], record: Mapping[str, Any], idempotency_key: str
) -> HouseholdForm:
    return household_form(
        changed_household(draft, record["household"]),
        idempotency_key=idempotency_key,
        programs=list(record.get("programs") or []),
    )


def correction_body(
    draft: Mapping[str, Any], record: Mapping[str, Any], form: HouseholdForm
) -> dict[str, Any]:
    """POST /proposals of the correction the operator checked, over the household as the life event
    leaves it."""
    village = str(record["village_code"])
    return {
        "kind": "correction",
        "village_code": village,
        "household_id": record["household_id"],
        "deliberation": form.body(village)["deliberation"],
        "household": merged_household(form, changed_household(draft, record["household"]), village),
        "programs": form.programs,
    }


def deactivation_form(draft: Mapping[str, Any], idempotency_key: str) -> DeactivationForm:
    """The deactivation a death or move of the only member calls for: the reason and the evidence
    (the civil registry's event) filled in; the operator adds the deliberation."""
    return DeactivationForm(
        household_id=str(draft["household_id"]),
        values={
            "reason": str(draft.get("deactivation_reason") or ""),
            "evidence_note": f"Dukcapil {draft.get('life_event_id')}: {draft.get('note')}",
        },
        idempotency_key=idempotency_key,
    )

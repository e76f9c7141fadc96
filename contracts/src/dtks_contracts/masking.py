"""Personal data as a partner agency or the citizens' check sees it: enough to recognise a person,
too little to harvest. Shared because the registry (its API and its public topic) and the
notification service (agencies' webhooks) must mask the same way."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

# Registry events whose snapshot lists an institution's residents (#19). An agency's grant is for
# programs, which an institution has none of: it reads an institution's residents masked.
_INSTITUTION_SNAPSHOTS = frozenset({"registry.institution_registered", "registry.institution_changed"})


def normalize_name(name: str) -> str:
    """Compare names as written on the identity card: case, accents' forms and spacing do not matter."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(folded.split())


def mask_name(name: str) -> str:
    """'Siti Aminah' -> 'S*** A*****': first letter of each word, the rest starred."""
    words = normalize_name(name).split(" ")
    return " ".join(w[0].upper() + "*" * (len(w) - 1) for w in words if w)


def mask_nik(nik: str) -> str:
    """The region part (first six digits) stays, the person's part is starred."""
    return nik[:6] + "*" * (len(nik) - 6)


def masked_resident(resident: Mapping[str, Any]) -> dict[str, Any]:
    return {**resident, "nik": mask_nik(resident["nik"]), "name": mask_name(resident["name"])}


def for_agency(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A registry event's payload (JSON form) as a partner agency receives it: an institution's
    residents masked; every other event as it is (a copy: the caller's payload is never changed)."""
    copy = dict(payload)
    institution = copy.get("institution")
    if event_type in _INSTITUTION_SNAPSHOTS and isinstance(institution, Mapping):
        residents = institution.get("residents") or []
        copy["institution"] = {**institution, "residents": [masked_resident(r) for r in residents]}
    return copy

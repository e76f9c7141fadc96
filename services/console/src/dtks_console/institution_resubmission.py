"""A returned institution proposal (LKS, #19), corrected and resubmitted by the regency's social
service: what was sent is sent again, with the record's fields a return most often names corrected
here (name, head, capacity, street, telephone). Residents, licence, accreditation and the rest go as
they were sent; a closure or an assistance is resent with a note of what was put right."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dtks_console.error_text import field_error

# Form field -> (path in the institution record, label). Paths name nested fields by their keys.
FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "name": (("name",), "Institution name"),
    "head": (("head",), "Head of the institution"),
    "capacity": (("capacity",), "Capacity (people)"),
    "address_street": (("address", "street"), "Street"),
    "contact_phone": (("contact", "phone"), "Telephone"),
}
# The proposal's content (as the proposal service keeps it) -> the resubmission body's names.
_CONTENT_TO_BODY = {
    "institution": "institution",
    "target_institution_id": "institution_id",
    "closure_reason": "closure_reason",
    "evidence_note": "evidence_note",
    "assistance": "assistance",
}


def is_institution_kind(kind: str) -> bool:
    return kind.startswith("institution_")


@dataclass
class InstitutionForm:
    has_record: bool  # registration and change carry the record; closure and assistance do not
    values: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    detail: str | None = None
    problem: Mapping[str, Any] | None = None

    @classmethod
    def from_content(cls, content: Mapping[str, Any], idempotency_key: str) -> InstitutionForm:
        record = content.get("institution")
        values: dict[str, str] = {}
        if isinstance(record, Mapping):
            for name, (path, _label) in FIELDS.items():
                value: Any = record
                for key in path:
                    value = value.get(key) if isinstance(value, Mapping) else None
                values[name] = "" if value is None else str(value)
        return cls(has_record=isinstance(record, Mapping), values=values, idempotency_key=idempotency_key)

    @classmethod
    def from_post(cls, content: Mapping[str, Any], data: Mapping[str, str]) -> InstitutionForm:
        form = cls.from_content(content, str(data.get("idempotency_key", "")))
        if form.has_record:
            form.values = {name: str(data.get(name, "")).strip() for name in FIELDS}
        return form

    def body(self, kind: str, village_code: str, content: Mapping[str, Any]) -> dict[str, Any]:
        """What was sent, with this form's corrections: the resubmission the proposal service takes."""
        body: dict[str, Any] = {"kind": kind, "village_code": village_code}
        for source, target in _CONTENT_TO_BODY.items():
            if content.get(source) is not None:
                body[target] = copy.deepcopy(content[source])
        if self.has_record:
            record = body["institution"]
            for name, (path, _label) in FIELDS.items():
                typed = self.values.get(name, "")
                value: Any = int(typed) if name == "capacity" and typed.isdigit() else typed
                where = record
                for key in path[:-1]:
                    where = where.setdefault(key, {})
                where[path[-1]] = value
        return body

    def refused(self, problem: Mapping[str, Any]) -> None:
        """The service's refusal beside the field it names (`institution.head` -> head)."""
        self.detail = str(problem.get("detail") or "")
        self.problem = problem
        by_path = {".".join(("institution", *path)): name for name, (path, _label) in FIELDS.items()}
        for error in problem.get("errors") or []:
            path = str(error.get("field", "")).removeprefix("body.")
            name = by_path.get(path, "")
            self.errors.setdefault(name, []).append(field_error(error, self.detail))

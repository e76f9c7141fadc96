"""Register households and members as the standard's registry records (``Group``, ``Member``).

The mapping, field by field, is written down in ``services/dci/MAPPING.md``; this module is it.
What leaves is cut to the agency's grant: :class:`FieldGrant` names groups of fields, and a field of
a group not granted is left out of the record (never sent empty, which could read as "known to be
empty"). Identifiers (NIK, KK) are always sent: a record without them could not be matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Field groups an agency may be granted (DTKS_DCI_FIELD_GRANTS); identifiers are always sent.
FIELD_GROUPS = ("name", "demographics", "address", "welfare", "programs")

NIK, KK, HOUSEHOLD_ID = "NIK", "KK", "DTKS_HOUSEHOLD_ID"
GROUP, MEMBER = "Group", "Member"


@dataclass(frozen=True)
class FieldGrant:
    groups: frozenset[str]

    @classmethod
    def of(cls, groups: Iterable[str]) -> FieldGrant:
        return cls(frozenset(g for g in groups if g in FIELD_GROUPS))

    def allows(self, group: str) -> bool:
        return group in self.groups


ALL_FIELDS = FieldGrant.of(FIELD_GROUPS)


def _identifier(kind: str, value: str) -> dict[str, str]:
    return {"@type": "Identifier", "identifier_type": kind, "identifier_value": value}


def member_record(
    member: Mapping[str, Any], household: Mapping[str, Any], grant: FieldGrant
) -> dict[str, Any]:
    """One member of a register household (``household`` is the registry's household document)."""
    ids = [_identifier(NIK, member["nik"])]
    person: dict[str, Any] = {"@type": "SRPerson", "identifier": ids}
    record: dict[str, Any] = {"@type": MEMBER, "@id": f"nik:{member['nik']}", "member_identifier": ids,
                              "demographic_info": person}  # fmt: skip
    if grant.allows("name"):
        # One full name as on the identity card: Indonesian names have no fixed given/surname split,
        # so the whole name is the given name and no surname is invented.
        person["name"] = {"@type": "Name", "given_name": member["name"]}
    if grant.allows("demographics"):
        person["sex"] = member["sex"]
        person["birth_date"] = member["birth_date"]
        record["relationship_head"] = member["relation_to_head"]
        if member.get("marital_status"):
            record["marital_status"] = member["marital_status"]
        if member.get("disability"):
            record["is_disabled"] = True
    if grant.allows("address"):
        person["address"] = _address(household)
    return record


def _address(household: Mapping[str, Any]) -> dict[str, Any]:
    snapshot = household["household"]
    address = snapshot.get("address") or {}
    unit = ", ".join(f"{k.upper()} {address[k]}" for k in ("rt", "rw") if address.get(k))
    street = address.get("street", "") + (f", {unit}" if unit else "")
    out: dict[str, Any] = {"@type": "Address", "street_address": street, "region_code": household["village_code"],
                           "country": "ID"}  # fmt: skip
    if address.get("postal_code"):
        out["postal_code"] = address["postal_code"]
    return out


def group_record(household: Mapping[str, Any], grant: FieldGrant) -> dict[str, Any]:
    """A register household (the registry's household document) as a ``Group``."""
    snapshot = household["household"]
    members = [member_record(m, household, grant) for m in snapshot["members"]]
    head = next((r for r, m in zip(members, snapshot["members"], strict=True) if m["relation_to_head"] == "head"),
                members[0])  # fmt: skip
    record: dict[str, Any] = {
        "@type": GROUP,
        "@id": f"dtks:household:{household['household_id']}",
        "group_identifier": [_identifier(KK, household["kk_number"]), _identifier(HOUSEHOLD_ID, household["household_id"])],
        "group_type": "household",
        "group_head_info": head,
        "group_size": len(members),
        "member_list": members,
    }  # fmt: skip
    if grant.allows("address"):
        record["place"] = {"@type": "Place", "address": _address(household)}
    if grant.allows("welfare") and household.get("welfare_decile"):
        decile = household["welfare_decile"]
        record["poverty_score"] = decile["decile"]
        record["poverty_score_type"] = "welfare_decile"
        record["poverty_score_source"] = decile["source"]
    attributes: list[dict[str, Any]] = [{"name": "status", "value": household["status"]}]
    if grant.allows("programs"):
        attributes.append({"name": "programs", "value": list(household["programs"])})
        attributes.append({"name": "registered_in_decree", "value": household["registered_in"]})
        attributes.append({"name": "last_decree", "value": household["last_decree"]})
        if household.get("deactivation_reason"):
            attributes.append({"name": "deactivation_reason", "value": household["deactivation_reason"]})
    record["additional_attributes"] = attributes
    return record


def records_for(
    households: Iterable[Mapping[str, Any]], entity: str, grant: FieldGrant, *, nik: str | None = None
) -> list[dict[str, Any]]:
    """What a search answers: Groups, or Members (only the person asked for when ``nik`` is given)."""
    out: list[dict[str, Any]] = []
    for household in households:
        if entity == GROUP:
            out.append(group_record(household, grant))
            continue
        for member in household["household"]["members"]:
            if nik is None or member["nik"] == nik:
                out.append(member_record(member, household, grant))
    return out

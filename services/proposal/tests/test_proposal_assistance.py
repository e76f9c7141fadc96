"""An institution's assistance at the proposal service's door (#19), with the registry's institution
events arriving through the real broker: the service learns the register's institutions from them,
and refuses an assistance for an institution closed, outside the proposer's region or of another
institution's operator, with a clear problem and nothing written; its own operator's is let in."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from dtks_contracts.events.registry import InstitutionClosed, InstitutionRegistered
from dtks_contracts.institution import Institution
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import VILLAGE, count, database_of, headers, institution_body, produce
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

SOCIAL_SERVICE = headers(Role.REGENCY_OPERATOR, VILLAGE[:5])
OPEN, CLOSING = "lks-harapan-bunda", "lks-kasih-ibu"


def _registered(institution_id: str) -> InstitutionRegistered:
    record = Institution.model_validate(
        {**institution_body()["institution"], "institution_id": institution_id, "village_code": VILLAGE}
    )
    return InstitutionRegistered(
        institution_id=institution_id, decree_number="1/HUK/2027", proposal_id=str(uuid.uuid4()),
        institution=record,
    )  # fmt: skip


def _assistance(institution_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "proposal_id": str(uuid.uuid4()), "kind": "institution_assistance", "village_code": VILLAGE,
        "institution_id": institution_id,
        "assistance": {"program": "ATENSI", "starts_on": "2027-04-01", "ends_on": "2027-06-30",
                       "basis": "per_institution"},
    }  # fmt: skip
    body.update(changes)
    return body


async def test_assistance_is_refused_for_a_closed_institution_another_region_or_another_operator_and_let_in_for_its_own(
    service: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    closed = InstitutionClosed(
        institution_id=CLOSING, decree_number="2/HUK/2027", proposal_id=str(uuid.uuid4()),
        registration_number="AHU-0012345.AH.01.04.Tahun 2019", reason=ClosureReason.DISSOLVED,
    )  # fmt: skip
    async with service() as (app, client):
        db = database_of(app)
        await produce(kafka_bootstrap, topic_prefix, [_registered(OPEN), _registered(CLOSING), closed])

        async def learned() -> bool:
            return await count(db, "SELECT count(*) FROM registered_institutions WHERE NOT open") == 1

        await wait_until(learned, what="the registry's institutions at the proposal service")

        refused = await client.post("/proposals", json=_assistance(CLOSING), headers=SOCIAL_SERVICE)
        assert (refused.status_code, refused.json()["code"]) == (409, "institution_closed"), refused.text
        assert "2/HUK/2027" in refused.json()["detail"]
        # Another regency's social service, naming a village of its own: the institution reads as unknown.
        bengkulu_utara = headers(Role.REGENCY_OPERATOR, "17.03")
        elsewhere = await client.post(
            "/proposals", json=_assistance(OPEN, village_code="17.03.01.2001"), headers=bengkulu_utara
        )
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "institution_not_found"), (
            elsewhere.text
        )
        other_operator = headers(Role.INSTITUTION_OPERATOR, VILLAGE, institution_id=CLOSING)
        other = await client.post("/proposals", json=_assistance(OPEN), headers=other_operator)
        assert (other.status_code, other.json()["code"]) == (403, "other_institution")
        assert await count(db, "SELECT count(*) FROM proposals") == 0
        assert await count(db, "SELECT count(*) FROM events") == 0

        own_operator = headers(Role.INSTITUTION_OPERATOR, VILLAGE, institution_id=OPEN)
        body = _assistance(OPEN)
        entered = await client.post("/proposals", json=body, headers=own_operator)
        assert entered.status_code == 201, entered.text
        raw = await count(db, "SELECT count(*) FROM events WHERE partition_key = $1", body["proposal_id"])
        assert raw == 1
        view = (await client.get(f"/proposals/{body['proposal_id']}", headers=own_operator)).json()
        assert view["content"]["assistance"] == {**body["assistance"], "residents": []}
        assert view["content"]["target_institution_id"] == OPEN
        assert json.dumps(view["content"]).count("institution_assistance") == 1  # its kind, once
        assert dt.date.fromisoformat(view["content"]["assistance"]["starts_on"]) == dt.date(2027, 4, 1)

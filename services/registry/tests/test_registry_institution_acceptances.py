"""Institutions (LKS) the Ministry accepted reach the registry on the same topic as households: they
are kept apart from the households' candidates, and a decree determines them in a section of their own."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dtks_contracts.events.verification import AcceptedByMinistry
from dtks_contracts.household import Household
from dtks_contracts.institution import Institution
from dtks_contracts.register_hash import register_root_of
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for, institution_id_for
from dtks_registry.testing import MINISTRY, acceptance, ago, envelope, make_household, produce
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

VILLAGE = "17.71.01.1001"


def _institution_acceptance(proposal_id: str, accepted_at: dt.datetime) -> AcceptedByMinistry:
    institution = Institution.model_validate(
        {
            "name": "LKSA Harapan Bunda",
            "legal_form": "foundation",
            "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
            "service_type": "children",
            "address": {"street": "Jl. Pagar Dewa No. 21"},
            "village_code": VILLAGE,
            "head": "Nurhayati",
            "capacity": 40,
            "licence": {"number": "1/2024", "issued_by": "17.71", "issued_on": "2024-02-01"},
            "contact": {"phone": "+6273621234"},
            "bank_account_ref": "bank-ref:lksa",
            "residents": [
                {
                    "nik": "1771010504100001",
                    "name": "Andi",
                    "birth_date": "2010-04-05",
                    "admitted_on": "2021-01-04",
                }
            ],
        }
    )
    return AcceptedByMinistry(
        proposal_id=proposal_id,
        round=1,
        village_code=VILLAGE,
        kind=ProposalKind.INSTITUTION_REGISTRATION,
        institution=institution,
        accepted_at=accepted_at,
        accepted_by=MINISTRY,
    )


async def test_an_accepted_institution_is_kept_apart_from_households_and_enters_the_decree_in_its_own_section(
    registry,
):
    accepted = _institution_acceptance("prop-lks-1", ago(2))
    await produce(
        registry.settings.kafka_bootstrap,
        registry.settings.topic_prefix,
        [envelope(accepted, occurred_at=accepted.accepted_at)],
    )

    async def kept() -> bool:
        return await registry.count("SELECT count(*) FROM institution_candidates") == 1

    await wait_until(kept, what="the institution's acceptance kept")
    pid = "prop-hh-beside-lks"
    await registry.accept([acceptance(pid, accepted_at=ago(2), household=make_household(1))])
    assert await registry.count("SELECT count(*) FROM candidates") == 1  # the household's only

    response = await registry.decree("21/HUK/2027", "2027-01", cutoff=ago(1))
    assert response.status_code == 201, response.text
    issued = response.json()
    hid = household_id_for(pid)
    assert issued["registered"] == [hid]
    household = (await registry.client.get(f"/households/{hid}", headers=registry.auth(Role.AUDITOR))).json()
    # The institution enters the same decree in its own section (#19 step 4): listed apart from the
    # households, and in the root after their leaves.
    assert accepted.institution is not None
    registered = accepted.institution.model_copy(update={"institution_id": institution_id_for("prop-lks-1")})
    assert issued["institutions_registered"] == [registered.institution_id]
    assert issued["register_hash"] == register_root_of(
        [Household.model_validate(household["household"])], [registered]
    )
    async with registry.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT kind, payload::text AS payload FROM institution_candidates")
    assert row["kind"] == "institution_registration"
    assert json.loads(row["payload"])["institution"]["name"] == "LKSA Harapan Bunda"


async def test_an_institution_operator_reads_no_household_of_its_village(registry):
    from dtks_runtime.auth.tokens import TokenService

    pid = "prop-hh-for-lks-read"
    await registry.accept([acceptance(pid, accepted_at=ago(2), household=make_household(1))])
    assert (await registry.decree("22/HUK/2027", "2027-01", cutoff=ago(1))).status_code == 201
    hid = household_id_for(pid)
    village = (await registry.client.get(f"/households/{hid}", headers=registry.auth(Role.AUDITOR))).json()[
        "village_code"
    ]
    token = TokenService(registry.settings.jwt_secret, registry.settings.jwt_issuer).issue(
        subject="lks-op", role=Role.INSTITUTION_OPERATOR, region=village, institution_id="lks-1"
    )
    lks = {"authorization": f"Bearer {token}"}
    assert (await registry.client.get(f"/households/{hid}", headers=lks)).status_code == 404
    listing = await registry.client.get("/households", params={"region": village}, headers=lks)
    assert (listing.status_code, listing.json()["code"]) == (403, "outside_region")
    village_operator = registry.auth(Role.VILLAGE_OPERATOR, village)
    assert (await registry.client.get(f"/households/{hid}", headers=village_operator)).status_code == 200

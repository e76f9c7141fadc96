"""An agency authenticates with its own client credentials at the real identity provider (Keycloak
with the DTKS realm): its service account is its sender, and its granted programs (the realm gives
agency-dinsos-bengkulu BLT in 17.71) cut what its searches see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_dci.testing import (
    assert_http_error,
    assert_valid,
    new_agency_key,
    public_b64,
    register,
    search_envelope,
    search_item,
)
from dtks_registry.testing import ago, make_household
from dtks_runtime.identity_testing import Keycloak, client_credentials
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[3]
CLIENT, SECRET = "agency-dinsos-bengkulu", "dev-secret-dinsos-bengkulu"
KEY = new_agency_key("dinsos-1")


@pytest.fixture(scope="module")
def idp_system(infra: Infra, keycloak: Keycloak) -> Iterator[LocalSystem]:
    extra = {
        "DTKS_OIDC_ISSUER": keycloak.issuer,
        "DTKS_DCI_SENDER_KEYS": json.dumps({CLIENT: {KEY.key_id: public_b64(KEY)}}),
    }
    system = prepare(infra, ROOT / "deploy" / "local" / "services.py", label="dciidp", extra_env=extra)
    system.command("start", only=("registry", "dci"))
    try:
        yield system
    finally:
        system.command("stop")


async def test_an_agencys_client_credentials_search_sees_only_its_granted_programs(
    idp_system: LocalSystem, infra: Infra, keycloak: Keycloak
):
    blt = make_household(300, programs=(Program.BLT,))
    pkh = make_household(301, programs=(Program.PKH,))
    await register(
        idp_system,
        infra,
        [blt],
        "1/HUK/2027",
        "2027-01",
        accepted_at=ago(2),
        cutoff=ago(1),
        programs=[Program.BLT],
    )
    await register(idp_system, infra, [pkh], "2/HUK/2027", "2027-04", accepted_at=ago(0.5), cutoff=ago(0))
    token = await client_credentials(keycloak, CLIENT, SECRET)
    items = [search_item("idtype-value", {"type": "KK", "value": h.kk_number}) for h in (blt, pkh)]
    body = search_envelope(items, sender_id=CLIENT, key=KEY)
    async with httpx.AsyncClient(base_url=idp_system.urls["dci"], timeout=60) as client:
        answer = await client.post(
            "/registry/sync/search", json=body, headers={"authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        assert_valid("/registry/sync/search", answer.json(), "response")
        seen, hidden = answer.json()["message"]["search_response"]
        assert [g["group_identifier"][0]["identifier_value"] for g in seen["data"]["reg_records"]] == [
            blt.kk_number
        ]
        assert hidden["data"]["reg_records"] == []  # PKH is not granted to this agency

        other = search_envelope(items, sender_id="agency-bpjs-kesehatan", key=KEY)
        refused = await client.post(
            "/registry/sync/search", json=other, headers={"authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "err.sender_id.invalid"
        assert_http_error(refused.json())
        forged = await client.post(
            "/registry/sync/search", json=body, headers={"authorization": f"Bearer {token[:-4]}AAAA"}
        )
        assert forged.status_code == 401 and forged.json()["errors"][0]["code"] == "err.request.unauthorized"

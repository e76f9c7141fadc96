"""Bearer tokens with role and region: who may call, and where they may act."""

import asyncio
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.cli import main as token_cli
from dtks_runtime.auth.deps import CurrentPrincipal, ensure_in_scope, require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.auth.tokens import TokenError, TokenService
from dtks_runtime.problems import PROBLEM_JSON, install_problem_handlers

SECRET = "test-secret-of-at-least-thirty-two-bytes"
tokens = TokenService(SECRET)
KOTA_BENGKULU_VILLAGE = "17.71.01.1001"


def build_app() -> FastAPI:
    app = FastAPI()
    app.state.tokens = tokens
    install_problem_handlers(app)

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"role": principal.role.value, "region": principal.region}

    @app.post("/villages/{code}/proposals")
    def submit(
        code: str, principal: Annotated[Principal, Depends(require_role(Role.VILLAGE_OPERATOR))]
    ) -> dict[str, str]:
        ensure_in_scope(principal, code)
        return {"ok": code}

    return app


async def call(method: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app()), base_url="http://t") as c:
        return await c.request(method, path, headers=headers)


def village_operator(region: str = KOTA_BENGKULU_VILLAGE) -> str:
    return tokens.issue(subject="op-1", role=Role.VILLAGE_OPERATOR, region=region)


async def test_a_valid_token_names_the_caller() -> None:
    response = await call("GET", "/me", village_operator())
    assert response.json() == {"role": "village_operator", "region": KOTA_BENGKULU_VILLAGE}


async def test_no_token_is_a_401_problem_document() -> None:
    response = await call("GET", "/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "unauthenticated"


async def test_a_token_signed_with_another_secret_is_refused() -> None:
    forged = TokenService("another-secret-of-at-least-thirty-two-bytes").issue(
        subject="x", role=Role.AUDITOR, region="ID"
    )
    response = await call("GET", "/me", forged)
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


async def test_an_expired_token_is_refused() -> None:
    expired = tokens.issue(subject="x", role=Role.AUDITOR, region="ID", ttl_seconds=-10)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(expired)


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    service = TokenService(SECRET)
    token = service.issue(subject="x", role=Role.AUDITOR, region="ID", ttl_seconds=1)
    assert service.verify(token).subject == "x"
    assert service.verify(token).subject == "x"  # answered from the cache of verified tokens
    await asyncio.sleep(2.05)  # the token's lifetime (whole seconds) passing is the point of the test
    with pytest.raises(TokenError, match="expired"):
        service.verify(token)


def test_a_forged_token_is_not_taken_for_a_remembered_one() -> None:
    service = TokenService(SECRET)
    token = service.issue(subject="x", role=Role.AUDITOR, region="ID")
    service.verify(token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(TokenError):
        service.verify(forged)


async def test_the_wrong_role_is_a_403() -> None:
    auditor = tokens.issue(subject="a", role=Role.AUDITOR, region="ID")
    response = await call("POST", f"/villages/{KOTA_BENGKULU_VILLAGE}/proposals", auditor)
    assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"


async def test_nobody_acts_outside_their_region() -> None:
    ok = await call("POST", f"/villages/{KOTA_BENGKULU_VILLAGE}/proposals", village_operator())
    assert ok.status_code == 200
    other_village = "17.71.01.1002"
    refused = await call("POST", f"/villages/{other_village}/proposals", village_operator())
    assert refused.status_code == 403 and refused.json()["code"] == "outside_region"


def test_a_role_cannot_be_scoped_to_a_region_of_the_wrong_level() -> None:
    with pytest.raises(ValueError, match="village"):
        tokens.issue(subject="x", role=Role.VILLAGE_OPERATOR, region="17.71")
    with pytest.raises(ValueError):
        tokens.issue(subject="x", role=Role.MINISTRY_VERIFIER, region="17")


def test_the_token_command_prints_a_token_the_services_accept(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DTKS_JWT_SECRET", SECRET)
    token_cli(["--role", "regency_operator", "--region", "17.71"])
    principal = tokens.verify(capsys.readouterr().out.strip())
    assert (principal.role, principal.region) == (Role.REGENCY_OPERATOR, "17.71")


def test_the_token_command_can_name_the_person(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DTKS_JWT_SECRET", SECRET)
    token_cli(["--role", "village_operator", "--region", KOTA_BENGKULU_VILLAGE, "--name", "Sari Wulandari"])
    principal = tokens.verify(capsys.readouterr().out.strip())
    assert principal.as_actor().name == "Sari Wulandari"


def test_an_institution_operator_acts_for_the_one_institution_its_token_names() -> None:
    token = tokens.issue(
        subject="op-lksa",
        role=Role.INSTITUTION_OPERATOR,
        region=KOTA_BENGKULU_VILLAGE,
        institution_id="lks-harapan-bunda",
    )
    principal = tokens.verify(token)
    assert principal.institution_id == "lks-harapan-bunda" and principal.role is Role.INSTITUTION_OPERATOR


def test_an_institution_operator_without_an_institution_and_others_with_one_are_refused() -> None:
    with pytest.raises(ValueError, match="needs the institution"):
        tokens.issue(subject="x", role=Role.INSTITUTION_OPERATOR, region=KOTA_BENGKULU_VILLAGE)
    with pytest.raises(ValueError, match="not scoped to an institution"):
        tokens.issue(
            subject="x", role=Role.VILLAGE_OPERATOR, region=KOTA_BENGKULU_VILLAGE, institution_id="i"
        )
    # A token made elsewhere (the provider) without the claim is refused like a wrong region.
    forged = jwt.encode(
        {
            "sub": "x",
            "role": "institution_operator",
            "region": KOTA_BENGKULU_VILLAGE,
            "iss": "dtks",
            "exp": 4102444800,
        },
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(TokenError, match="needs the institution"):
        tokens.verify(forged)

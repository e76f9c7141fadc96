"""Tokens of an OpenID Connect provider: verified against its published keys (served here by a
small local HTTP server standing in for the provider), never minted by a service."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.deps import CurrentPrincipal
from dtks_runtime.auth.oidc import ProviderKeys
from dtks_runtime.auth.tokens import TokenError, TokenService
from dtks_runtime.problems import PROBLEM_JSON, install_problem_handlers
from dtks_runtime.service import ServiceRuntime, create_app
from dtks_runtime.settings import RuntimeSettings

AUDIENCE = "dtks"
VILLAGE = "17.71.01.1001"


class Provider:
    """Publishes a JWKS and signs tokens with its keys, as Keycloak does; counts key-set fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.fetches = 0
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if provider.down:
                    self.send_error(503)
                    return
                provider.fetches += 1
                body = json.dumps(provider.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = f"{self.url}/realms/dtks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            algorithm = (
                jwt.algorithms.RSAAlgorithm
                if isinstance(key, rsa.RSAPrivateKey)
                else jwt.algorithms.ECAlgorithm
            )
            entry = json.loads(algorithm.to_jwk(key.public_key()))
            keys.append({**entry, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str = "rsa-1", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": [AUDIENCE, "account"],
            "sub": "4ebde7fa-a317-467f-9ce9-ae463181323c",
            "role": ["village_operator"],
            "region": VILLAGE,
            "iat": now,
            "exp": now + 300,
            **overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.keys[kid]
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})

    def keys_client(self) -> ProviderKeys:
        return ProviderKeys(self.issuer, AUDIENCE, f"{self.url}/certs", min_refresh_interval=0.5)


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.server.shutdown()


def service_for(keys: ProviderKeys, secret: str | None = None) -> TokenService:
    return TokenService(secret, provider=keys)


def app_for(tokens: TokenService) -> FastAPI:
    app = FastAPI()
    app.state.tokens = tokens
    install_problem_handlers(app)

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": principal.subject, "role": principal.role.value, "region": principal.region}

    return app


async def get_me(tokens: TokenService, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_for(tokens))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/me", headers={"Authorization": f"Bearer {token}"})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_providers_token_names_the_caller_and_the_key_set_is_fetched_once(provider: Provider) -> None:
    tokens = service_for(provider.keys_client())
    for _ in range(3):
        response = await get_me(tokens, provider.token())
        assert response.json() == {
            "sub": "4ebde7fa-a317-467f-9ce9-ae463181323c",
            "role": "village_operator",
            "region": VILLAGE,
        }
    await get_me(tokens, provider.token(region="17.71.01.1002"))  # another token, the same key
    assert provider.fetches == 1


async def test_an_agencys_programs_are_read_as_a_list_or_a_single_string(provider: Provider) -> None:
    tokens = service_for(provider.keys_client())
    listed = await tokens.authenticate(
        provider.token(role=["agency"], region="17.71", programs=["BLT", "PKH"])
    )
    single = await tokens.authenticate(provider.token(role=["agency"], region="ID", programs="PBI_JK"))
    assert (listed.programs, single.programs) == (("BLT", "PKH"), ("PBI_JK",))


async def test_an_es256_key_of_the_provider_verifies_too(provider: Provider) -> None:
    provider.keys["ec-1"] = ec.generate_private_key(ec.SECP256R1())
    principal = await service_for(provider.keys_client()).authenticate(provider.token(kid="ec-1"))
    assert principal.region == VILLAGE


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("another issuer", {"iss": "http://127.0.0.1:1/realms/other"}),
        ("another audience", {"aud": "another-system"}),
        ("no audience", {"aud": None}),
        # Times relative to when the test runs ("now+"), not when it was collected: in a long run the
        # two can be minutes apart, and a "not yet valid" token collected early is valid by then.
        ("expired", {"exp": "now+-120"}),
        ("not yet valid", {"nbf": "now+120"}),
        ("two roles", {"role": ["village_operator", "ministry_determiner"]}),
        ("a region outside the role's level", {"region": "17.71"}),
    ],
)
async def test_a_token_the_service_must_not_trust_is_a_401_problem(
    provider: Provider, case: str, overrides: dict[str, Any]
) -> None:
    now = int(time.time())
    claims = {
        k: now + int(v.removeprefix("now+")) if isinstance(v, str) and v.startswith("now+") else v
        for k, v in overrides.items()
    }
    response = await get_me(service_for(provider.keys_client()), provider.token(**claims))
    assert response.status_code == 401, case
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "invalid_token"


async def test_a_small_clock_difference_is_tolerated(provider: Provider) -> None:
    tokens = service_for(provider.keys_client())
    principal = await tokens.authenticate(
        provider.token(nbf=int(time.time()) + 10, exp=int(time.time()) - 10)
    )
    assert principal.region == VILLAGE


async def test_alg_none_a_tampered_claim_and_a_foreign_signature_are_refused(provider: Provider) -> None:
    tokens = service_for(provider.keys_client())
    header, payload, signature = provider.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'rsa-1'})}.{payload}."
    tampered = f"{header}.{_b64({**claims, 'role': ['ministry_determiner'], 'region': 'ID'})}.{signature}"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    # The provider's public key used as an HMAC secret: the classic algorithm confusion.
    public_pem = (
        provider.keys["rsa-1"]
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    confused = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{payload}"
    mac = hmac.new(public_pem, confused.encode(), hashlib.sha256).digest()
    confused += "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    for case, token in [
        ("alg none", unsigned),
        ("tampered", tampered),
        ("forged", forged),
        ("confused", confused),
    ]:
        response = await get_me(tokens, token)
        assert response.status_code == 401, case
        assert response.json()["code"] == "invalid_token", case


async def test_an_unknown_key_id_refetches_the_key_set_at_most_once_per_interval(provider: Provider) -> None:
    keys = provider.keys_client()
    tokens = service_for(keys)
    claims = jwt.decode(provider.token(), options={"verify_signature": False})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown = jwt.encode(
        claims, stranger, algorithm="RS256", headers={"kid": "made-up"}
    )  # nobody publishes it
    await tokens.authenticate(provider.token())
    provider.keys["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await asyncio.sleep(0.6)  # the provider rotated its key some time after the service's fetch
    rotated = provider.token(kid="rsa-2")
    assert (await tokens.authenticate(rotated)).region == VILLAGE  # a rotated key: fetched, accepted
    assert provider.fetches == 2
    for _ in range(20):
        with pytest.raises(TokenError):
            await tokens.authenticate(unknown)
    assert provider.fetches == 2  # refetched within the interval: no call to the provider
    await asyncio.sleep(0.6)
    with pytest.raises(TokenError):
        await tokens.authenticate(unknown)
    assert provider.fetches == 3


async def test_the_first_calls_of_a_fresh_service_arriving_at_once_are_all_accepted_with_one_fetch(
    provider: Provider,
) -> None:
    # A page that asks two things of a service at once, just after it started: the second call waited
    # while the first fetched the keys, and was refused (401) as if its token named an unknown key.
    tokens = service_for(provider.keys_client())
    answers = await asyncio.gather(*(get_me(tokens, provider.token()) for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert provider.fetches == 1


async def test_with_the_provider_down_cached_keys_still_verify_and_health_says_unreachable(
    provider: Provider,
) -> None:
    keys = provider.keys_client()
    tokens = service_for(keys)
    await tokens.authenticate(provider.token())
    assert (await keys.health())[0] is True
    provider.down = True
    assert (await tokens.authenticate(provider.token(region="17.71.01.1002"))).region == "17.71.01.1002"
    healthy, details = await keys.health()
    assert healthy is False and "unreachable" in details["error"]
    provider.keys["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await asyncio.sleep(0.6)
    with pytest.raises(TokenError, match="could not be fetched"):  # a 401, not a server error
        await tokens.authenticate(provider.token(kid="rsa-2"))


async def test_a_service_without_a_shared_secret_refuses_hs256_tokens(provider: Provider) -> None:
    secret = "a-development-secret-of-thirty-two-bytes"
    token = TokenService(secret).issue(subject="op", role=Role.VILLAGE_OPERATOR, region=VILLAGE)
    development = TokenService(secret, provider=provider.keys_client())  # outside production: both
    assert (await get_me(development, token)).status_code == 200
    refused = await get_me(service_for(provider.keys_client(), secret=None), token)
    assert refused.status_code == 401


def test_production_refuses_a_shared_secret_and_needs_an_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTKS_ENV", "production")
    monkeypatch.setenv("DTKS_OIDC_ISSUER", "https://id.example.go.id/realms/dtks")
    # What production needs besides identity (the broker's login, the event keys), so only identity varies.
    monkeypatch.setenv("DTKS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DTKS_EVENT_KEYS", '{"proposal": "k"}')
    RuntimeSettings().check_production_safety()
    assert RuntimeSettings().shared_secret() is None
    monkeypatch.setenv("DTKS_JWT_SECRET", "a-secret-someone-set-of-thirty-two-bytes")
    with pytest.raises(RuntimeError, match="DTKS_JWT_SECRET must not be set"):
        RuntimeSettings().check_production_safety()
    monkeypatch.delenv("DTKS_JWT_SECRET")
    monkeypatch.delenv("DTKS_OIDC_ISSUER")
    with pytest.raises(RuntimeError, match="DTKS_OIDC_ISSUER"):
        RuntimeSettings().check_production_safety()


def test_a_production_service_with_a_shared_secret_does_not_start() -> None:
    settings = RuntimeSettings(
        env="production",
        jwt_secret="a-secret-someone-set-of-thirty-two-bytes",
        oidc_issuer="https://id.example/realms/dtks",
    )
    with pytest.raises(RuntimeError, match="DTKS_JWT_SECRET must not be set"):
        create_app(ServiceRuntime(service="proposal", settings=settings), title="t", description="t")


async def test_a_production_service_refuses_development_tokens_and_checks_its_provider(
    provider: Provider,
) -> None:
    settings = RuntimeSettings(
        env="production",
        oidc_issuer=provider.issuer,
        oidc_jwks_url=f"{provider.url}/certs",
        kafka_security_protocol="SASL_SSL",
        event_keys={"proposal": "k"},
    )
    runtime = ServiceRuntime(service="proposal", settings=settings)
    app = create_app(runtime, title="t", description="t")
    development = TokenService(settings.jwt_secret).issue(
        subject="op", role=Role.VILLAGE_OPERATOR, region=VILLAGE
    )
    with pytest.raises(TokenError, match="HS256 are not accepted"):
        await app.state.tokens.authenticate(development)
    assert (await app.state.tokens.authenticate(provider.token())).region == VILLAGE
    assert "identity_provider" in runtime._health_checks


async def test_the_persons_name_from_the_provider_is_recorded_with_what_they_do(provider: Provider) -> None:
    tokens = service_for(provider.keys_client())
    named = await tokens.authenticate(
        provider.token(name="Sari Wulandari", preferred_username="operator.1001")
    )
    username_only = await tokens.authenticate(provider.token(preferred_username="operator.1001"))
    # A name the contracts refuse (a text-direction override) falls back rather than failing later.
    spoofed = await tokens.authenticate(
        provider.token(name="Sari \u202eirawulandari", preferred_username="operator.1001")
    )
    neither = await tokens.authenticate(provider.token())
    assert named.as_actor().name == "Sari Wulandari"
    assert named.as_actor().subject == "4ebde7fa-a317-467f-9ce9-ae463181323c"
    assert (username_only.name, spoofed.name, neither.name) == ("operator.1001", "operator.1001", None)
    # Unknown, the name is left out of the event altogether: events look as they did before.
    assert "name" not in neither.as_actor().model_dump(mode="json")

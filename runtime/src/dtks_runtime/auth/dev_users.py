"""Named development users for every tier of one regency, created in the local identity provider.

The demo (``deploy/local/demo.py``) creates them in Keycloak through its admin REST API, so that a
person can sign in as the operator of any village, the verifier of any district, the city's social
service, the mayor, the province and the Ministry. Their passwords follow one rule,
:func:`dev_password`, which ``dtks-token --user`` applies when no password is given. Never for a
real deployment: anyone who reads this file knows every password.

The user names follow the realm file's development users (``deploy/keycloak/dtks-realm.json``):
a region's label is its code with the province and regency run together and the rest joined by
hyphens (17.71 -> ``1771``, 17.71.01 -> ``1771-01``, 17.71.01.1001 -> ``1771-01-1001``), after the
word for the office (``operator``, ``verifier``, ``regent``). The rule gives the realm file's four
users their passwords too, and a user that already exists is left as it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from dtks_contracts.regions import children, region_name
from dtks_contracts.vocabulary.roles import Role

PASSWORD_RULE = "dev- and the user name with its dots as hyphens and its own hyphens dropped"
REALM = "dtks"

# Names for the officers, chosen by position so every run names the same person the same way.
_GIVEN = (
    "Agus", "Ahmad", "Ayu", "Bambang", "Dedi", "Dian", "Eka", "Fitri", "Hendra", "Indah", "Joko",
    "Lestari", "Maya", "Nur", "Putri", "Rahmat", "Rizky", "Sri", "Wahyu", "Yanti", "Yusuf",
)  # fmt: skip
_FAMILY = (
    "Saputra", "Hidayat", "Lubis", "Nasution", "Siregar", "Pratama", "Kurniawan", "Setiawan",
    "Rahayu", "Wibowo", "Harahap", "Susanto", "Permana", "Gunawan", "Utami", "Purnomo",
)  # fmt: skip

# Users of the realm file that are also offices here keep the names the realm gives them (a test
# holds the two together), so the demo's table and its events name them as Keycloak does.
_REALM_FILE_NAMES = {
    "verifier.1771-01": ("Budi", "Santoso"),
    "operator.1771": ("Rina", "Marlina"),
    "ministry.verifier": ("Dewi", "Kartika"),
}


def dev_password(username: str) -> str:
    """The development password of a user name (see PASSWORD_RULE): ``operator.1771-01-1001`` signs
    in with ``dev-operator-1771011001``, the realm file's ``verifier.1771-01`` with ``dev-verifier-177101``."""
    return "dev-" + username.replace("-", "").replace(".", "-")


def region_label(code: str) -> str:
    """17 -> 17, 17.71 -> 1771, 17.71.01 -> 1771-01, 17.71.01.1001 -> 1771-01-1001."""
    parts = code.split(".")
    return "-".join(["".join(parts[:2]), *parts[2:]])


@dataclass(frozen=True)
class DevUser:
    username: str
    role: Role
    region: str
    first_name: str
    last_name: str

    @property
    def password(self) -> str:
        return dev_password(self.username)

    @property
    def name(self) -> str:
        """As Keycloak puts it in the token's ``name`` claim."""
        return f"{self.first_name} {self.last_name}"


def tier_users(regency: str) -> list[DevUser]:
    """One officer per village, district, the regency's social service, its head (regent or mayor),
    the province, the Ministry's verifier and determiner, and an auditor."""
    province = regency.split(".")[0]
    districts = sorted(children(regency))
    offices: list[tuple[str, Role, str]] = [
        *(
            (f"operator.{region_label(v)}", Role.VILLAGE_OPERATOR, v)
            for d in districts
            for v in sorted(children(d))
        ),
        *((f"verifier.{region_label(d)}", Role.DISTRICT_VERIFIER, d) for d in districts),
        (f"operator.{region_label(regency)}", Role.REGENCY_OPERATOR, regency),
        (f"regent.{region_label(regency)}", Role.REGENT, regency),
        (f"verifier.{region_label(province)}", Role.PROVINCE_VERIFIER, province),
        ("ministry.verifier", Role.MINISTRY_VERIFIER, "ID"),
        ("ministry.determiner", Role.MINISTRY_DETERMINER, "ID"),
        ("auditor", Role.AUDITOR, "ID"),
    ]
    return [
        DevUser(username, role, region, *_REALM_FILE_NAMES.get(username, _invented_name(i)))
        for i, (username, role, region) in enumerate(offices)
    ]


def one_per_tier(regency: str, village: str | None = None) -> list[DevUser]:
    """An officer of each office a quarter passes, in the order the quarter passes them: the village
    (``village``, else the regency's first), its district, the regency's social service, the regent or
    mayor, the province, the Ministry's verifier and determiner, and the auditor: whom ``make run``
    names for signing in to the console."""
    users = tier_users(regency)
    village = village or next(u.region for u in users if u.role is Role.VILLAGE_OPERATOR)
    district = village.rsplit(".", 1)[0]
    chosen: dict[Role, DevUser] = {}
    for u in users:
        if u.role is Role.VILLAGE_OPERATOR and u.region != village:
            continue
        if u.role is Role.DISTRICT_VERIFIER and u.region != district:
            continue
        chosen.setdefault(u.role, u)
    return list(chosen.values())


def _invented_name(i: int) -> tuple[str, str]:
    return _GIVEN[i % len(_GIVEN)], _FAMILY[(i * 7 + i // len(_GIVEN)) % len(_FAMILY)]


def office_of(user: DevUser) -> str:
    """What the user is, in words, for the demo's sign-in table."""
    where = "Indonesia" if user.region == "ID" else region_name(user.region)
    return f"{user.role.value} of {where} ({user.region})"


@dataclass(frozen=True)
class Created:
    created: list[str]
    existing: list[str]


class ProviderAdmin:
    """The realm administrator's calls to Keycloak's admin REST API that creating users needs."""

    # Master-realm admin tokens live 60 s; one is fetched again when less than this is left.
    TOKEN_MARGIN_SECONDS = 15

    def __init__(self, url: str, admin_user: str, admin_password: str, realm: str = REALM) -> None:
        self.url = url.rstrip("/")
        self.realm = realm
        self._credentials = (admin_user, admin_password)
        self._token: tuple[str, float] | None = None
        self._roles: dict[str, dict[str, Any]] = {}

    @property
    def base(self) -> str:
        return f"{self.url}/admin/realms/{self.realm}"

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        if self._token is None or self._token[1] - time.monotonic() < self.TOKEN_MARGIN_SECONDS:
            answer = await http.post(
                f"{self.url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self._credentials[0],
                    "password": self._credentials[1],
                },
            )
            answer.raise_for_status()
            body = answer.json()
            self._token = (str(body["access_token"]), time.monotonic() + float(body.get("expires_in", 60)))
        return {"Authorization": f"Bearer {self._token[0]}"}

    async def usernames(self, http: httpx.AsyncClient) -> set[str]:
        found: set[str] = set()
        page = 500
        while True:
            answer = await http.get(
                f"{self.base}/users",
                params={"first": len(found), "max": page, "briefRepresentation": "true"},
                headers=await self.headers(http),
            )
            answer.raise_for_status()
            batch = [str(u["username"]) for u in answer.json()]
            found.update(batch)
            if len(batch) < page:
                return found

    async def create(self, http: httpx.AsyncClient, user: DevUser) -> bool:
        """Create the user with its role, region and password; False if it existed already."""
        headers = await self.headers(http)
        created = await http.post(
            f"{self.base}/users",
            headers=headers,
            json={
                "username": user.username,
                "enabled": True,
                "email": f"{user.username}@dtks.example",
                "emailVerified": True,
                "firstName": user.first_name,
                "lastName": user.last_name,
                "attributes": {"region": [user.region]},
                "credentials": [{"type": "password", "value": user.password, "temporary": False}],
            },
        )
        if created.status_code == 409:  # created meanwhile (another run of the demo)
            return False
        created.raise_for_status()
        user_id = created.headers["location"].rsplit("/", 1)[-1]
        role = self._roles.get(user.role.value)
        if role is None:
            answer = await http.get(f"{self.base}/roles/{user.role.value}", headers=headers)
            answer.raise_for_status()
            role = self._roles[user.role.value] = dict(answer.json())
        mapped = await http.post(
            f"{self.base}/users/{user_id}/role-mappings/realm", headers=headers, json=[role]
        )
        mapped.raise_for_status()
        return True

    async def ensure_users(self, users: Iterable[DevUser], *, parallel: int = 4) -> Created:
        """Create every user that does not exist yet; a user that exists is left alone (its password,
        role and region as they are). Safe to run again."""
        wanted = list(users)
        async with httpx.AsyncClient(timeout=60) as http:
            present = await self.usernames(http)
            # Keycloak hashes each password (hundreds of ms on a busy machine): a few at a time.
            gate = asyncio.Semaphore(parallel)

            async def one(user: DevUser) -> bool:
                async with gate:
                    return await self.create(http, user)

            missing = [u for u in wanted if u.username not in present]
            outcomes = await asyncio.gather(*(one(u) for u in missing))
        created = [u.username for u, made in zip(missing, outcomes, strict=True) if made]
        return Created(created=created, existing=[u.username for u in wanted if u.username not in created])

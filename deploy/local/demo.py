"""The demo: one real regency's population and register, and a small quarter through every tier.

Run by ``make run`` after the services are up (``.venv/bin/python deploy/local/demo.py``). It talks
to the services over HTTP only, as their users would:

1. loads a synthetic population of Kota Bengkulu (``17.71``, all its districts and villages, sized
   from its real population; ``DTKS_DEMO_PEOPLE`` to change) into the civil-registry simulator;
2. builds the register: ``DTKS_DEMO_REGISTER`` households proposed by their villages, checked,
   forwarded by the district, the regency, ratified by the mayor's decree, forwarded by the
   province, accepted by the Ministry, and fixed by the first determination decree;
3. runs a small next quarter: new proposals (a few with faults the integrity standard catches),
   a return at the province and its resubmission, a correction and a deactivation of registered
   households, items left waiting at every tier, four social welfare institutions (LKS) of different
   service types with their residents (one left waiting at the province), a second decree; then the
   civil registry reports a death, a birth and a move in registered households of one village, opening drafts there;
4. prints where each service answers, how to get a token for each role, and a determined
   household with its audit history.

Before all that, when the identity provider is known (``DTKS_OIDC_ISSUER`` and the Keycloak
administrator's ``DTKS_KEYCLOAK_ADMIN_USER``/``_PASSWORD``, from the environment or the state
folder's ``env`` that ``make run`` writes), it creates a named user for every tier of the regency in
Keycloak (``dtks_runtime.auth.dev_users``; a user that exists is left alone) and prints how to sign
in as each. The demo's own calls use development tokens naming those same officers, so the audit
history shows who did what.

Deterministic for a given seed; safe to run again on a fresh stack only (decree numbers repeat).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from dtks_contracts.regions import children, region_name
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.dev_users import (
    PASSWORD_RULE,
    ProviderAdmin,
    office_of,
    one_per_tier,
    region_label,
    tier_users,
)
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.testing import read_env_file
from dtks_synthetic import Fault, generate_population, proposals

REGENCY = os.environ.get("DTKS_DEMO_REGENCY", "17.71")
PROVINCE = REGENCY.split(".")[0]
SEED = int(os.environ.get("DTKS_DEMO_SEED", "1"))
REGISTER_SIZE = int(os.environ.get("DTKS_DEMO_REGISTER", "120"))
PEOPLE = int(os.environ["DTKS_DEMO_PEOPLE"]) if os.environ.get("DTKS_DEMO_PEOPLE") else None


def url(name: str, port_var: str, default: int) -> str:
    return f"http://127.0.0.1:{os.environ.get(port_var, default)}"


PROPOSAL = url("proposal", "DTKS_PROPOSAL_PORT", 8001)
VERIFICATION = url("verification", "DTKS_VERIFICATION_PORT", 8002)
REGISTRY = url("registry", "DTKS_REGISTRY_PORT", 8003)
NOTIFICATION = url("notification", "DTKS_NOTIFICATION_PORT", 8004)
CIVIL_REGISTRY = url("civil-registry", "DTKS_CIVIL_REGISTRY_PORT", 8005)
DCI = url("dci", "DTKS_DCI_PORT", 8006)
COMPLAINTS = url("complaint", "DTKS_COMPLAINTS_PORT", 8007)
CONSOLE = url("console", "DTKS_CONSOLE_PORT", 8090)


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


OFFICERS = {(u.role, u.region): u for u in tier_users(REGENCY)}


def provider_setting(name: str) -> str | None:
    """From the environment, else from the env of the state folder ``DTKS_STATE_DIR`` names (make run
    passes its own, which it does not source). Never a default folder: a demo run against other
    services (the tests') must not reach the Keycloak of a make run in the same checkout."""
    if name in os.environ:
        return os.environ[name]
    state = os.environ.get("DTKS_STATE_DIR")
    env_file = Path(state) / "env" if state else None
    return read_env_file(env_file).get(name) if env_file is not None and env_file.exists() else None


async def create_sign_in_users() -> str | None:
    """The regency's officers as users of the identity provider; its issuer, or None without one."""
    issuer = provider_setting("DTKS_OIDC_ISSUER")
    admin_user = provider_setting("DTKS_KEYCLOAK_ADMIN_USER")
    admin_password = provider_setting("DTKS_KEYCLOAK_ADMIN_PASSWORD")
    if not (issuer and admin_user and admin_password):
        say("no identity provider in the environment: no sign-in users created (development tokens only)")
        return None
    url = provider_setting("DTKS_KEYCLOAK_URL") or issuer.split("/realms/")[0]
    try:
        done = await ProviderAdmin(url, admin_user, admin_password).ensure_users(OFFICERS.values())
    except httpx.HTTPError as exc:
        say(f"identity provider at {url} did not create the sign-in users ({exc!r}); going on without")
        return None
    say(f"identity provider: {len(done.created)} users created, {len(done.existing)} there already")
    return issuer


class Actors:
    """Bearer tokens for every role the demo plays, signed with the services' secret, naming the
    officer of that office (the user the identity provider has for it), so events say who acted."""

    def __init__(self) -> None:
        self.tokens = TokenService(RuntimeSettings().jwt_secret)

    def token(self, role: Role, region: str) -> str:
        officer = OFFICERS.get((role, region))
        if officer is None:
            return self.tokens.issue(subject=f"demo-{role.value}@{region}", role=role, region=region)
        return self.tokens.issue(subject=officer.username, role=role, region=region, name=officer.name)

    def headers(self, role: Role, region: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, region)}"}


async def expect(response: httpx.Response, *ok: int) -> Any:
    if response.status_code not in (ok or (200, 201, 202)):
        raise SystemExit(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    return response.json()


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float = 180) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


class Demo:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.actors = Actors()
        self.population = generate_population(REGENCY, people=PEOPLE, seed=SEED)
        self.districts = sorted(children(REGENCY))

    # --- step 1: the civil registry ------------------------------------------------------------

    async def load_civil_registry(self) -> int:
        batch: list[dict[str, Any]] = []
        loaded = 0
        for record in self.population.civil_registry_records():
            batch.append(record.to_json())
            if len(batch) == 20_000:
                loaded += await self._load(batch)
                batch = []
        if batch:
            loaded += await self._load(batch)
        return loaded

    async def _load(self, people: list[dict[str, Any]]) -> int:
        answer = await expect(
            await self.http.post(f"{CIVIL_REGISTRY}/people", json={"people": people}, timeout=300)
        )
        return int(answer["loaded"])

    # --- submitting and moving proposals through the tiers --------------------------------------

    async def submit(self, bodies: Iterable[dict[str, Any]]) -> list[str]:
        by_village: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for body in bodies:
            by_village[body["village_code"]].append(body)
        ids: list[str] = []
        for village, items in by_village.items():
            headers = self.actors.headers(Role.VILLAGE_OPERATOR, village)
            answer = await expect(
                await self.http.post(f"{PROPOSAL}/proposals/batch", json={"items": items}, headers=headers),
                200,
                207,
            )
            for result in answer["results"]:
                if result["status"] >= 300:
                    raise SystemExit(f"proposal refused at the door: {result}")
                ids.append(result["body"]["proposal_id"])
        return ids

    def tier_actors(self, tier: str) -> list[tuple[Role, str]]:
        if tier == "district":
            return [(Role.DISTRICT_VERIFIER, d) for d in self.districts]
        return {
            "regency": [(Role.REGENCY_OPERATOR, REGENCY)],
            "regent": [(Role.REGENT, REGENCY)],
            "province": [(Role.PROVINCE_VERIFIER, PROVINCE)],
            "ministry": [(Role.MINISTRY_VERIFIER, "ID")],
        }[tier]

    async def queue(self, tier: str) -> dict[tuple[Role, str], list[str]]:
        waiting: dict[tuple[Role, str], list[str]] = {}
        for role, region in self.tier_actors(tier):
            answer = await expect(
                await self.http.get(
                    f"{VERIFICATION}/queues/{tier}",
                    params={"limit": 1000},
                    headers=self.actors.headers(role, region),
                )
            )
            waiting[(role, region)] = [item["proposal_id"] for item in answer["items"]]
        return waiting

    async def wait_in_queue(self, tier: str, ids: Iterable[str]) -> None:
        wanted = set(ids)

        async def arrived() -> bool:
            present = {pid for items in (await self.queue(tier)).values() for pid in items}
            return wanted <= present

        await wait_for(f"{len(wanted)} proposal(s) in the {tier} queue", arrived)

    async def decide(self, tier: str, ids: Iterable[str], decision: str = "forward", **extra: Any) -> None:
        wanted = set(ids)
        for (role, region), waiting in (await self.queue(tier)).items():
            mine = [pid for pid in waiting if pid in wanted]
            for start in range(0, len(mine), 500):
                items = [
                    {"proposal_id": pid, "tier": tier, "decision": decision, **extra}
                    for pid in mine[start : start + 500]
                ]
                answer = await expect(
                    await self.http.post(
                        f"{VERIFICATION}/decisions", json=items, headers=self.actors.headers(role, region)
                    )
                )
                failed = [r for r in answer.get("results", []) if r.get("problem")]
                if failed:
                    raise SystemExit(f"decisions at {tier} refused: {failed[:3]}")

    async def ratify(self, ids: list[str], decree_number: str) -> None:
        body = {
            "regency_code": REGENCY,
            "decree_number": decree_number,
            "decree_date": dt.date.today().isoformat(),
            "proposal_ids": ids,
        }
        await expect(
            await self.http.post(
                f"{VERIFICATION}/ratifications", json=body, headers=self.actors.headers(Role.REGENT, REGENCY)
            )
        )

    async def through_every_tier(self, ids: list[str], ratification_decree: str) -> None:
        for tier in ("district", "regency"):
            await self.wait_in_queue(tier, ids)
            await self.decide(tier, ids)
        await self.wait_in_queue("regent", ids)
        await self.ratify(ids, ratification_decree)
        for tier in ("province", "ministry"):
            await self.wait_in_queue(tier, ids)
            await self.decide(tier, ids)

    async def wait_in_register(self, ids: list[str]) -> None:
        headers = self.actors.headers(Role.MINISTRY_DETERMINER, "ID")

        async def received() -> bool:
            for pid in ids:
                if (await self.http.get(f"{REGISTRY}/candidates/{pid}", headers=headers)).status_code != 200:
                    return False
            return True

        await wait_for("the registry to receive the Ministry's acceptances", received)

    async def determine(self, decree_number: str, period: str) -> dict[str, Any]:
        body = {
            "decree_number": decree_number,
            "period": period,
            "cutoff": dt.datetime.now(dt.UTC).isoformat(),
        }
        headers = self.actors.headers(Role.MINISTRY_DETERMINER, "ID")
        return dict(
            await expect(
                await self.http.post(f"{REGISTRY}/determinations", json=body, headers=headers), 200, 201
            )
        )

    async def upkeep(self, household_ids: list[str]) -> list[str]:
        """Propose a correction of the first household and the deactivation of the second."""
        auditor = self.actors.headers(Role.AUDITOR, "ID")
        to_correct, to_end = [
            await expect(await self.http.get(f"{REGISTRY}/households/{h}", headers=auditor))
            for h in household_ids
        ]
        corrected = dict(to_correct["household"])
        corrected["address"] = {**corrected["address"], "street": "Jl. Kenanga No. 3"}
        deliberation = {
            "kind": "muskel",
            "held_on": dt.date.today().isoformat(),
            "minutes_ref": "BA-02/MUSKEL/XI/2026",
        }
        correction = {
            "kind": "correction",
            "village_code": to_correct["village_code"],
            "household_id": to_correct["household_id"],
            "household": corrected,
            "deliberation": deliberation,
            "programs": to_correct["programs"],
        }
        deactivation = {
            "kind": "deactivation",
            "village_code": to_end["village_code"],
            "household_id": to_end["household_id"],
            "reason": "moved",
            "evidence_note": "The family moved to another regency (letter from the RT head)",
            "deliberation": deliberation,
        }
        return await self.submit([correction, deactivation])

    async def life_events(self, household_ids: list[str]) -> tuple[str, int]:
        """The civil registry reports a death, a move out and a birth in registered households of one
        village (the one holding most of them): drafts its operator finds under Life events. The
        child is added to the civil registry first, so the correction made of the birth checks out."""
        auditor = self.actors.headers(Role.AUDITOR, "ID")
        homes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for h in household_ids:
            record = await expect(await self.http.get(f"{REGISTRY}/households/{h}", headers=auditor))
            if len(record["household"]["members"]) >= 2:
                homes[record["village_code"]].append(record)
        village, records = max(homes.items(), key=lambda kv: len(kv[1]))
        today = dt.date.today()
        first = records[0]["household"]
        head = next((m for m in first["members"] if m["relation_to_head"] == "head"), first["members"][0])
        born_on = today - dt.timedelta(days=20)
        # A girl's NIK: her district's code, her birth date with 40 added to the day, a serial.
        child_nik = f"{village[:8].replace('.', '')}{born_on.day + 40:02d}{born_on:%m%y}9901"
        child = {
            "nik": child_nik,
            "name": f"Putri {head['name'].split()[-1]}",
            "birth_date": born_on.isoformat(),
            "sex": "female",
            "relation_to_head": "child",
            "kk_number": first["kk_number"],
            "address": first["address"]["street"],
            "village_code": village,
        }
        await expect(await self.http.post(f"{CIVIL_REGISTRY}/people", json={"people": [child]}))
        events: list[dict[str, Any]] = [
            {
                "event_type": "civil_registry.person_died",
                "payload": {
                    "nik": first["members"][-1]["nik"],
                    "died_on": (today - dt.timedelta(days=9)).isoformat(),
                },
            },
            {
                "event_type": "civil_registry.child_born",
                "payload": {
                    "nik": child_nik,
                    "kk_number": first["kk_number"],
                    "parent_niks": [head["nik"]],
                    "born_on": born_on.isoformat(),
                },
            },
        ]
        if len(records) > 1:
            elsewhere = next(v for v in sorted(children(village.rsplit(".", 1)[0])) if v != village)
            events.append(
                {
                    "event_type": "civil_registry.person_moved",
                    "payload": {
                        "nik": records[1]["household"]["members"][-1]["nik"],
                        "from_village": village,
                        "to_village": elsewhere,
                        "moved_on": (today - dt.timedelta(days=5)).isoformat(),
                    },
                }
            )
        await expect(await self.http.post(f"{CIVIL_REGISTRY}/admin/life-events", json={"events": events}))
        operator = self.actors.headers(Role.VILLAGE_OPERATOR, village)

        async def drafted() -> bool:
            answer = await self.http.get(
                f"{COMPLAINTS}/life-event-drafts", params={"region": village}, headers=operator
            )
            return answer.status_code == 200 and len(answer.json()["items"]) >= len(events)

        await wait_for("the life events' drafts", drafted)
        return village, len(events)

    async def institutions(self, proposed: Iterable[dict[str, Any]]) -> list[str]:
        """The regency's social service proposes its social welfare institutions (LKS, #19), each of
        another service type, with residents from the civil registry of the age it cares for, none
        of them in a family the quarters propose (a resident who is also in a registered household is
        flagged for the verifier; the demo keeps its institutions clean)."""
        taken = {b["household"]["kk_number"] for b in proposed if b.get("household")}
        today = dt.date.today()
        wanted = [list[dict[str, Any]]() for _ in DEMO_INSTITUTIONS]
        used: set[str] = set()
        first_village = ""
        for family in self.population.families():
            first_village = first_village or family.village_code
            if family.kk_number in taken or family.moved_to is not None:
                continue
            for people, (_name, _kind, (youngest, oldest), count) in zip(
                wanted, DEMO_INSTITUTIONS, strict=True
            ):
                for person in family.members:
                    age = (today - person.birth_date).days // 365
                    fits = person.alive and youngest <= age <= oldest and person.nik not in used
                    if len(people) < count and fits:
                        used.add(person.nik)  # nobody lives in two institutions at once
                        admitted = max(
                            person.birth_date + dt.timedelta(days=365), today - dt.timedelta(days=400)
                        )
                        people.append(
                            {
                                "nik": person.nik,
                                "name": person.name,
                                "birth_date": person.birth_date.isoformat(),
                                "admitted_on": admitted.isoformat(),
                                "village_code": family.village_code,
                            }
                        )
                        break  # one person of a family per institution
            if all(len(p) == n for p, (*_, n) in zip(wanted, DEMO_INSTITUTIONS, strict=True)):
                break
        headers = self.actors.headers(Role.REGENCY_OPERATOR, REGENCY)
        ids: list[str] = []
        for index, ((name, kind, _ages, _count), people) in enumerate(
            zip(DEMO_INSTITUTIONS, wanted, strict=True)
        ):
            # Where its first resident comes from (a small population may leave one without residents).
            village = people[0]["village_code"] if people else first_village
            body = {
                "proposal_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dtks-demo-{SEED}-lks-{index}")),
                "kind": "institution_registration",
                "village_code": village,
                "institution": {
                    "name": name,
                    "legal_form": "foundation" if index % 2 == 0 else "association",
                    "registration_number": f"AHU-{1_204_310 + index:07d}.AH.01.04.Tahun 2018",
                    "service_type": kind,
                    "address": {"street": f"Jl. Merapi No. {11 + index}", "rt": "004", "rw": "002"},
                    "head": ("Nurhayati", "Bambang Sutrisno", "Sri Wahyuni", "Yohanes Harahap")[index % 4],
                    "capacity": 20 + 10 * index,
                    "accreditation": {"grade": "ABC"[index % 3], "valid_until": f"{today.year + 2}-12-31"},
                    "licence": {
                        "number": f"460/{112 + index}/DINSOS/2024",
                        "issued_by": REGENCY,
                        "issued_on": "2024-02-01",
                    },
                    "contact": {"phone": f"+62736212{340 + index}"},
                    "bank_account_ref": f"bank-ref:lks-{index + 1}",
                    "residents": [{k: v for k, v in p.items() if k != "village_code"} for p in people],
                },
            }
            answer = await expect(
                await self.http.post(f"{PROPOSAL}/proposals", json=body, headers=headers), 200, 201
            )
            ids.append(answer["proposal_id"])
        return ids

    async def resubmit(self, ids: list[str], bodies: dict[str, dict[str, Any]]) -> None:
        """The village sees the return and its reasons, corrects the proposal and sends it again."""
        for pid in ids:
            body = bodies[pid]
            village = body["village_code"]

            async def returned(pid: str = pid, village: str = village) -> bool:
                return (await self.status(pid, village)).get("status") == "returned"

            await wait_for(f"proposal {pid} to show as returned in its village", returned)
            headers = self.actors.headers(Role.VILLAGE_OPERATOR, village)
            resubmission = {k: v for k, v in body.items() if k != "proposal_id"}
            await expect(
                await self.http.post(
                    f"{PROPOSAL}/proposals/{pid}/resubmissions", json=resubmission, headers=headers
                )
            )

    async def status(self, pid: str, village: str) -> dict[str, Any]:
        headers = self.actors.headers(Role.VILLAGE_OPERATOR, village)
        return dict(await expect(await self.http.get(f"{PROPOSAL}/proposals/{pid}", headers=headers)))


async def run() -> None:
    started = time.monotonic()
    issuer = await create_sign_in_users()
    async with httpx.AsyncClient(timeout=60) as client:
        demo = Demo(client)
        say(
            f"{region_name(REGENCY)} ({REGENCY}): {len(demo.districts)} districts; loading the civil registry"
        )
        loaded = await demo.load_civil_registry()
        say(f"civil registry: {loaded:,} people")

        # The register: the first decree.
        # One draw, so the two quarters propose different families.
        drawn = proposals(
            demo.population,
            REGISTER_SIZE + 24,
            {Fault.NAME_MISMATCH: 2, Fault.NIK_NOT_IN_CIVIL_REGISTRY: 1},
            seed=SEED,
        )
        clean_bodies = [p.body for p in drawn if p.fault is None]
        first = clean_bodies[:REGISTER_SIZE]
        ids = await demo.submit(first)
        say(f"quarter 1: {len(ids)} new-household proposals submitted; moving them through every tier")
        await demo.through_every_tier(ids, "400/001/KPTS/2026")
        await demo.wait_in_register(ids)
        decree1 = await demo.determine("1/HUK/2026", "2026-10")
        say(f"decree 1/HUK/2026: {decree1['counts']} register hash {decree1['register_hash'][:16]}...")

        # The next quarter.
        clean = clean_bodies[REGISTER_SIZE:]
        faulty = [p.body for p in drawn if p.fault is not None]
        quarter = await demo.submit(clean)
        rejected = await demo.submit(faulty)
        say(
            f"quarter 2: {len(quarter)} clean proposals, {len(rejected)} with faults the integrity standard catches"
        )

        # A correction and a deactivation of households the first decree registered.
        upkeep = await demo.upkeep(decree1["registered"][:2])
        say(f"quarter 2: a correction and a deactivation of registered households: {upkeep}")

        # Most of the quarter goes all the way; two are returned at the province and resubmitted;
        # a few are left waiting at the district, the regency and the province.
        moving = [*quarter, *upkeep]
        stay_at = {"district": quarter[:2], "regency": quarter[2:4], "province": quarter[4:6]}
        returned = quarter[6:8]
        for tier in ("district", "regency"):
            moving = [p for p in moving if p not in stay_at[tier]]
            await demo.wait_in_queue(tier, moving)
            await demo.decide(tier, moving)
        await demo.wait_in_queue("regent", moving)
        await demo.ratify(moving, "400/014/KPTS/2027")
        await demo.wait_in_queue("province", moving)
        await demo.decide(
            "province",
            returned,
            decision="return",
            reasons=["DATA_INCONSISTENT"],
            note="RT/RW missing on the KK",
        )
        moving = [p for p in moving if p not in stay_at["province"] and p not in returned]
        await demo.decide("province", moving)
        await demo.wait_in_queue("ministry", moving)
        await demo.decide("ministry", moving)
        await demo.resubmit(returned, {b["proposal_id"]: b for b in clean})

        # The regency's social welfare institutions: verified by the regency, the province and the
        # Ministry; the last one is left waiting at the province.
        institutions = await demo.institutions(b.body for b in drawn)
        await demo.wait_in_queue("regency", institutions)
        await demo.decide("regency", institutions)
        await demo.wait_in_queue("province", institutions)
        onward = institutions[:-1]
        await demo.decide("province", onward)
        await demo.wait_in_queue("ministry", onward)
        await demo.decide("ministry", onward)
        say(
            f"quarter 2: {len(institutions)} institutions proposed, {len(onward)} accepted, one waits at the province"
        )

        await demo.wait_in_register([*moving, *onward])
        decree2 = await demo.determine("2/HUK/2027", "2027-01")
        say(
            f"decree 2/HUK/2027: {decree2['counts']}, institutions {decree2.get('institutions_registered', [])}"
        )

        # Life events of the civil registry in registered households untouched by the quarter.
        drafts_village, drafted = await demo.life_events(decree1["registered"][2:])
        say(f"civil registry: {drafted} life events opened drafts in village {drafts_village}")

        village = first[0]["village_code"]
        household = decree1["registered"][0]
        say("done in %.0f s" % (time.monotonic() - started))
        print_guide(household, village, ids[0])
        if issuer is not None:
            print_sign_in(issuer, village, drafts_village)


# The demo's social welfare institutions (#19): name, service type, residents' ages, how many.
DEMO_INSTITUTIONS: tuple[tuple[str, str, tuple[int, int], int], ...] = (
    ("LKSA Harapan Bunda", "children", (6, 17), 4),
    ("Panti Sosial Tresna Werdha Bakti Mulya", "elderly", (65, 100), 3),
    ("Yayasan Bina Daksa Raflesia", "disability", (18, 50), 3),
    ("Rumah Singgah Pelita Kasih", "social_disability", (20, 60), 2),
)


def print_sign_in(issuer: str, village: str, drafts_village: str) -> None:
    """The console's address and an officer of every tier to sign in as, and the rule for the rest."""
    rows = "\n".join(
        f"  {u.username:<24} {u.password:<28} {u.name:<20} {office_of(u)}"
        for u in one_per_tier(REGENCY, village)
    )
    print(
        f"""The operator console: {CONSOLE}/  (citizens' check without sign-in: {CONSOLE}/check)
Sign in there as an officer of each tier of {region_name(REGENCY)} (Keycloak, {issuer}):
  {"user":<24} {"password":<28} {"name":<20} office
{rows}
  Every village: operator.{REGENCY.replace(".", "")}-DD-VVVV (DD.VVVV the end of its code), every district:
  verifier.{REGENCY.replace(".", "")}-DD. Every password: {PASSWORD_RULE}.
  Also the realm file's operator.1001 (password dev-operator-1001) and the welfare post officer
  puskesos.1001 (password dev-puskesos-1001, files complaints for 17.71.01.1001).
Life events the civil registry reported wait as drafts in {drafts_village}: sign in as
  operator.{region_label(drafts_village)} and open Life events.
A real token for one of them (source .dtks/env first):
  .venv/bin/dtks-token --user {one_per_tier(REGENCY, village)[0].username}
"""
    )


def print_guide(household_id: str, village: str, proposal_id: str) -> None:
    print(
        f"""
The DTKS demo is up.
  proposal      {PROPOSAL}/docs        (village operators)
  verification  {VERIFICATION}/docs    (district, regency, regent, province, Ministry)
  registry      {REGISTRY}/docs        (determination, queries, citizens' check, audit)
  notification  {NOTIFICATION}/docs    (inbox, subscriptions)
  civil registry simulator {CIVIL_REGISTRY}/docs
  DCI interface {DCI}/docs            (partner agencies: the DCI Social Registry API, signed envelopes)
  complaints    {COMPLAINTS}/docs       (complaints, life events; citizens file without sign-in at
                POST {COMPLAINTS}/public/complaints and check GET /public/complaints/{{tracking code}})

A token for each role (source .dtks/env first if you changed DTKS_JWT_SECRET):
  .venv/bin/dtks-token --role village_operator --region {village}
  .venv/bin/dtks-token --role district_verifier --region {village.rsplit(".", 1)[0]}
  .venv/bin/dtks-token --role regency_operator --region {REGENCY}     (regent: --role regent)
  .venv/bin/dtks-token --role province_verifier --region {PROVINCE}
  .venv/bin/dtks-token --role ministry_verifier --region ID         (also ministry_determiner, auditor, agency)

Try:
  T=$(.venv/bin/dtks-token --role auditor --region ID)
  curl -s -H "Authorization: Bearer $T" {REGISTRY}/households/{household_id}
  curl -s -H "Authorization: Bearer $T" {REGISTRY}/audit/households/{household_id}/history
  curl -s -H "Authorization: Bearer $T" "{REGISTRY}/institutions?region={REGENCY}"   (social welfare institutions)
  T=$(.venv/bin/dtks-token --role village_operator --region {village})
  curl -s -H "Authorization: Bearer $T" {PROPOSAL}/proposals/{proposal_id}
"""
    )


if __name__ == "__main__":
    try:
        asyncio.run(run())
    except httpx.HTTPError as exc:
        sys.exit(f"[demo] a service did not answer: {exc!r}")

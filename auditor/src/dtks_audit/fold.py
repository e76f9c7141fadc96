"""The register folded from the registry's topic in memory, and every decree checked against it.

Pure: records in, findings out. Household events are grouped by the decree that carries them (not by
where they sit in the topic), so the register as of each decree does not depend on how partitions
interleave; the order within one household's partition is checked separately (stream versions go
1, 2, 3, ... and decrees follow their periods), since a reordered copy must not pass unseen.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pydantic

from dtks_audit.log import Record
from dtks_audit.quick_read import QuickReader, SnapshotFacts
from dtks_audit.signatures import TrustedKeys, signature_valid
from dtks_contracts.decree_chunks import (
    DeterminationChunk,
    DeterminationManifest,
    IncompleteDecree,
    assemble_decree,
)
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import payload_class
from dtks_contracts.events.registry import (
    DecreeKeyActivated,
    DeterminationIssued,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionRegistered,
)
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.merkle import (
    MERKLE_ALGORITHM,
    assistance_leaf_hash,
    institution_leaf_hash,
    leaf_hash,
    merkle_root_of_list,
)
from dtks_contracts.register_hash import (
    assistance_digest,
    household_digest,
    institution_digest,
    register_digest,
)
from dtks_contracts.tree_head import tree_head_bytes

_SNAPSHOT_TYPES = {
    HouseholdRegistered.event_type: "registered",
    HouseholdCorrected.event_type: "corrected",
    HouseholdDeactivated.event_type: "deactivated",
}
_STREAM_TYPES = {*_SNAPSHOT_TYPES, "registry.welfare_decile_set"}
# The institutions section (#19): folded beside the households, its leaves after theirs.
_INSTITUTION_TYPES = {
    InstitutionRegistered.event_type: "registered",
    InstitutionChanged.event_type: "changed",
    InstitutionClosed.event_type: "closed",
}
# The relay writes the stored JSON as it is (PostgreSQL's jsonb text has spaces after colons).
_TYPE = re.compile(rb'"event_type"\s*:\s*"([a-z_.]+)"')


def _typed(event_type: str) -> type[EventEnvelope]:
    # One validation of the bytes with the payload typed, instead of the envelope's and then the payload's.
    cls = payload_class(event_type)
    return pydantic.create_model(f"Audit{cls.__name__}", __base__=EventEnvelope, payload=(cls, ...))


_TYPED = {t: _typed(t) for t in _SNAPSHOT_TYPES}


# One household's (or institution's) change in a decree: (id, kind, digest, leaf), kind registered |
# corrected | deactivated (changed | closed for institutions), digest and leaf None when it leaves.
# The household's Merkle leaf is hashed where the event is read (in a worker when there are several)
# rather than in the check that follows, which runs in one process. A plain tuple: a worker sends
# hundreds of thousands back, and tuples pickle five times faster than objects.
Change = tuple[str, str, str | None, bytes | None]


@dataclass(frozen=True)
class Finding:
    decree_number: str | None
    household_id: str | None
    what: str

    def line(self) -> str:
        who = f"household {self.household_id}: " if self.household_id else ""
        return f"{who}{self.what}"


@dataclass
class DecreeResult:
    decree_number: str
    ok: bool
    hash_kind: str
    recorded_hash: str
    recomputed_hash: str
    households: int
    signature: str
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "decree_number": self.decree_number, "ok": self.ok, "hash_kind": self.hash_kind,
            "recorded_hash": self.recorded_hash, "recomputed_hash": self.recomputed_hash,
            "households": self.households, "signature": self.signature,
            "differs": [{"household_id": f.household_id, "what": f.what} for f in self.findings],
        }  # fmt: skip


class LogFold:
    def __init__(self, *, quick: bool = True) -> None:
        """``quick=False`` reads every event through the contract's models alone: the reference
        the quick path (dtks_audit.quick_read) is held to."""
        self.decrees: dict[str, DeterminationIssued] = {}
        # Chunked decrees (#21): a manifest and its chunks, put together in check() once every
        # partition is folded in (chunks may sit in other partitions than their manifest).
        self.manifests: dict[str, DeterminationManifest] = {}
        self.chunks: dict[str, list[DeterminationChunk]] = {}
        self.keys: list[DecreeKeyActivated] = []
        self.changes: dict[str, list[Change]] = {}  # decree number -> its household changes
        self.institution_changes: dict[str, list[Change]] = {}  # decree number -> its institution changes
        self.undecodable: list[tuple[str, int, int, str]] = []
        self.events_read = 0
        self._versions: dict[str, int] = {}  # household -> last stream version read
        self._decree_order: dict[
            str, list[tuple[str, int, int]]
        ] = {}  # household -> (decree, partition, offset)
        self.order_findings: list[tuple[str, str, str]] = []  # (decree, household, what)
        self._quick = QuickReader() if quick else None

    def merge(self, other: LogFold) -> None:
        """Take in the fold of other partitions (a household's events all sit in one partition, so
        folds of disjoint partitions add up to the fold of the whole topic)."""
        self.decrees.update(other.decrees)
        self.manifests.update(other.manifests)
        for number, chunks in other.chunks.items():
            self.chunks.setdefault(number, []).extend(chunks)
        self.keys += other.keys
        for number, changes in other.changes.items():
            self.changes.setdefault(number, []).extend(changes)
        for number, changes in other.institution_changes.items():
            self.institution_changes.setdefault(number, []).extend(changes)
        self.undecodable += other.undecodable
        self.events_read += other.events_read
        self._versions.update(other._versions)
        self._decree_order.update(other._decree_order)
        self.order_findings += other.order_findings

    def for_merge(self) -> LogFold:
        """This fold as :meth:`merge` needs it from a worker, smaller to send back: the households'
        last versions are dropped (their order is already checked) and so are the decree sequences
        of households in a single decree (check() compares consecutive decrees only)."""
        self._versions = {}
        self._decree_order = {h: seq for h, seq in self._decree_order.items() if len(seq) > 1}
        for changes in self.changes.values():
            # By household (stably: one household's changes keep their order), here in parallel:
            # the decrees' households then arrive as one sorted run per worker, which the check
            # merges in linear time.
            changes.sort(key=itemgetter(0))
        self._quick = None
        return self

    def add(self, record: Record) -> None:
        self.events_read += 1
        match = _TYPE.search(record.value)
        try:
            # A cheap look at the type first; when the bytes do not show it plainly, a full parse.
            event_type = (
                match.group(1).decode() if match else EventEnvelope.from_bytes(record.value).event_type
            )
            if event_type in _TYPED:
                # Most events take the quick path; the contract's models judge whatever it is not sure of.
                facts = self._quick.read(event_type, record.value) if self._quick else None
                if facts is not None:
                    self._take(facts, record)
                else:
                    self._snapshot_event(record, event_type)
            elif event_type in _INSTITUTION_TYPES:
                self._institution_event(record, event_type)
            elif event_type in _STREAM_TYPES:
                envelope = EventEnvelope.from_bytes(record.value)
                self._version(envelope.aggregate_id, envelope.aggregate_version, None, record)
            elif event_type == DeterminationIssued.event_type:
                decree = EventEnvelope.from_bytes(record.value).payload_as(DeterminationIssued)
                self.decrees[decree.decree_number] = decree
            elif event_type == DeterminationManifest.event_type:
                manifest = EventEnvelope.from_bytes(record.value).payload_as(DeterminationManifest)
                self.manifests[manifest.decree_number] = manifest
            elif event_type == DeterminationChunk.event_type:
                chunk = EventEnvelope.from_bytes(record.value).payload_as(DeterminationChunk)
                self.chunks.setdefault(chunk.decree_number, []).append(chunk)
            elif event_type == DecreeKeyActivated.event_type:
                self.keys.append(EventEnvelope.from_bytes(record.value).payload_as(DecreeKeyActivated))
        except ValueError as exc:  # pydantic's ValidationError is one
            self.undecodable.append((record.topic, record.partition, record.offset, str(exc).splitlines()[0]))

    def _assemble_chunked(self) -> dict[str, str]:
        """Put each chunked decree together into self.decrees; decree number -> why, for those that
        are not whole or whose chunks do not match their manifest (never checked as half a decree)."""
        incomplete: dict[str, str] = {}
        for number, manifest in self.manifests.items():
            try:
                self.decrees[number] = assemble_decree(manifest, self.chunks.get(number, []))
            except IncompleteDecree as exc:
                incomplete[number] = f"the chunked decree is not whole: {exc}"
        for number in self.chunks.keys() - self.manifests.keys():
            incomplete[number] = "chunks of this decree are in the log but its manifest is not"
        return incomplete

    def _snapshot_event(self, record: Record, event_type: str) -> None:
        envelope: Any = _TYPED[event_type].model_validate_json(
            record.value, extra="ignore", context=dict(HISTORICAL_READ)
        )
        if envelope.schema_version != envelope.payload.schema_version:
            envelope = EventEnvelope.from_bytes(record.value)
            payload: Any = envelope.payload_as(payload_class(event_type))
        else:
            payload = envelope.payload
        kind = _SNAPSHOT_TYPES[event_type]
        digest = household_digest(payload.household) if kind != "deactivated" else None
        facts = SnapshotFacts(
            kind, payload.household_id, payload.decree_number, envelope.aggregate_version, digest
        )
        self._take(facts, record)

    def _take(self, facts: SnapshotFacts, record: Record) -> None:
        household_id, digest = facts.household_id, facts.digest
        leaf = leaf_hash(household_id, digest) if digest is not None else None
        self.changes.setdefault(facts.decree_number, []).append((household_id, facts.kind, digest, leaf))
        self._version(facts.household_id, facts.aggregate_version, facts.decree_number, record)

    def _institution_event(self, record: Record, event_type: str) -> None:
        payload: Any = EventEnvelope.from_bytes(record.value).payload_as(payload_class(event_type))
        kind = _INSTITUTION_TYPES[event_type]
        digest = institution_digest(payload.institution) if kind != "closed" else None
        change: Change = (payload.institution_id, kind, digest, None)
        self.institution_changes.setdefault(payload.decree_number, []).append(change)

    def _version(self, household_id: str, version: int, decree: str | None, record: Record) -> None:
        last = self._versions.get(household_id, 0)
        if version != last + 1:
            where = f"partition {record.partition} offset {record.offset}"
            self.order_findings.append(
                (decree or "", household_id, f"its event version {version} follows version {last} ({where})")
            )
        self._versions[household_id] = max(last, version)
        if decree is not None:
            self._decree_order.setdefault(household_id, []).append((decree, record.partition, record.offset))

    def _period_key(self, number: str) -> tuple[int, int]:
        decree = self.decrees.get(number)
        return (decree.period.year, decree.period.quarter) if decree else (9999, 9)

    def check(self, trusted: TrustedKeys) -> list[DecreeResult]:
        """Each decree's findings from the fold: order, keys, changes and root, in that order.

        Over 60 lines because every finding is collected into the same per-decree lists before the
        results are built; split, the lists would have to travel between the pieces."""
        trusted.follow(self.keys)
        incomplete = self._assemble_chunked()
        ordered = sorted(self.decrees.values(), key=lambda d: (d.period.year, d.period.quarter))
        order_findings: dict[str, list[Finding]] = {}
        latest = ordered[-1].decree_number if ordered else ""
        for number, household_id, what in self.order_findings:
            # A welfare decile event names no decree: its gap shows under the latest decree.
            number = number or latest
            order_findings.setdefault(number, []).append(Finding(number, household_id, what))
        for household_id, seq in self._decree_order.items():
            for (earlier, _, _), (later, partition, offset) in itertools.pairwise(seq):
                if self._period_key(later) < self._period_key(earlier):
                    what = f"its event of decree {later} comes after one of decree {earlier} (partition {partition} offset {offset})"
                    order_findings.setdefault(later, []).append(Finding(later, household_id, what))
        for number in self.changes.keys() - self.decrees.keys() - incomplete.keys():
            for household_id, kind, _, _ in self.changes[number]:
                order_findings.setdefault(number, []).append(
                    Finding(number, household_id, f"its {kind} event names decree {number}, which is not in the log")
                )  # fmt: skip
        register: dict[str, str] = {}  # household -> digest, the register in force
        leaves: dict[str, bytes] = {}  # household -> its Merkle leaf, the same register
        order: list[tuple[str, bytes]] = []  # (household, leaf) of the register in code-point order
        institutions: dict[str, str] = {}  # institution -> digest, the institutions section in force
        # (institution, proposal) -> digest: the assistance section, every assistance determined so far,
        # from each decree's own list (its leaves bind the list into the signed root).
        assistance: dict[tuple[str, str], str] = {}
        suspect: dict[str, str] = {}  # household -> the decree where its snapshot already differed
        results: list[DecreeResult] = []
        previous: DeterminationIssued | None = None
        for decree in ordered:
            findings = list(order_findings.get(decree.decree_number, []))
            added: list[str] = []
            findings += self._apply(decree, register, leaves, added)
            order = _merged_order(order, leaves, added)
            findings += self._apply_institutions(decree, institutions)
            for entry in decree.institution_assistance:
                assistance[(entry.institution_id, entry.proposal_id)] = assistance_digest(entry)
            for f in findings:
                if f.household_id is not None:
                    suspect[f.household_id] = decree.decree_number
            merkle = decree.hash_algorithm == MERKLE_ALGORITHM or decree.hash_algorithm.startswith(
                "dtks-register-merkle-"
            )
            recomputed = _root(order, institutions, assistance) if merkle else _flat(order, register)
            if recomputed != decree.register_hash and not findings:
                carried = sorted(h for h in suspect if h in register)
                findings += [
                    Finding(
                        decree.decree_number, h, f"carried over from decree {suspect[h]}, where it differed"
                    )
                    for h in carried
                ] or [
                    Finding(
                        decree.decree_number, None, "the recomputed root differs; no single household named"
                    )
                ]
            signature = (
                self._signature(decree, trusted) if merkle else "none (flat hash, issued before signatures)"
            )
            if merkle:
                findings += self._chain(decree, previous)
            signature_ok = signature.startswith("valid") if merkle else True
            results.append(
                DecreeResult(
                    decree.decree_number,
                    ok=recomputed == decree.register_hash and signature_ok and not findings,
                    hash_kind="merkle" if merkle else "flat",
                    recorded_hash=decree.register_hash,
                    recomputed_hash=recomputed,
                    households=len(register),
                    signature=signature,
                    findings=findings,
                )
            )
            previous = decree
        # A chunked decree that is not whole is reported as failing, never checked from its half.
        for number, what in sorted(incomplete.items()):
            manifest = self.manifests.get(number)
            recorded = manifest.register_hash if manifest else ""
            results.append(DecreeResult(number, ok=False, hash_kind="chunked", recorded_hash=recorded,
                                        recomputed_hash="", households=0, signature="not checked",
                                        findings=[Finding(number, None, what)]))  # fmt: skip
        return results

    def _apply(
        self,
        decree: DeterminationIssued,
        register: dict[str, str],
        leaves: dict[str, bytes],
        added: list[str],
    ) -> list[Finding]:
        """The decree's household events into the register (and ``added``: those it did not hold),
        each checked against the decree's lists; the findings by household."""
        number = decree.decree_number
        findings: list[Finding] = []
        listed = {"registered": set(decree.registered), "corrected": set(decree.corrected),
                  "deactivated": set(decree.deactivated)}  # fmt: skip
        seen: dict[str, set[str]] = {k: set() for k in listed}
        # In the log's order (one household's events share a partition, in order); the findings are
        # sorted afterwards, cheaper than sorting every change.
        for household_id, kind, digest, leaf in self.changes.get(number, []):
            seen[kind].add(household_id)
            if household_id not in listed[kind]:
                findings.append(Finding(number, household_id, f"a {kind} event the decree does not list"))
            if kind == "deactivated":
                leaves.pop(household_id, None)
                if register.pop(household_id, None) is None:
                    findings.append(
                        Finding(number, household_id, "deactivated but not in the register before")
                    )
                continue
            if kind == "corrected" and household_id not in register:
                findings.append(Finding(number, household_id, "corrected but not in the register before"))
            assert digest is not None and leaf is not None
            if household_id not in register:
                added.append(household_id)
            register[household_id] = digest
            leaves[household_id] = leaf
        findings.sort(key=lambda f: f.household_id or "")
        for kind, ids in listed.items():
            for household_id in sorted(ids - seen[kind]):
                findings.append(
                    Finding(
                        number,
                        household_id,
                        f"the decree lists it as {kind}, but that event is not in the log",
                    )
                )
        if decree.changed_leaves:
            for household_id, recorded in zip(
                (*decree.registered, *decree.corrected), decree.changed_leaves, strict=True
            ):
                held = leaves.get(household_id)
                if held is not None and held.hex() != recorded:
                    findings.append(
                        Finding(
                            number,
                            household_id,
                            "its snapshot in the log differs from the one the decree put in force",
                        )
                    )
        return findings

    def _apply_institutions(self, decree: DeterminationIssued, section: dict[str, str]) -> list[Finding]:
        """The decree's institution events into the section, each checked against the decree's lists
        (an institution is named in a finding as the household is: by its id)."""
        number = decree.decree_number
        findings: list[Finding] = []
        listed = {"registered": set(decree.institutions_registered), "changed": set(decree.institutions_changed),
                  "closed": set(decree.institutions_closed)}  # fmt: skip
        seen: dict[str, set[str]] = {k: set() for k in listed}
        for institution_id, kind, digest, _ in sorted(
            self.institution_changes.get(number, []), key=itemgetter(0)
        ):
            seen[kind].add(institution_id)
            if institution_id not in listed[kind]:
                findings.append(Finding(number, institution_id, f"an institution {kind} event the decree does not list"))  # fmt: skip
            if kind == "closed":
                if section.pop(institution_id, None) is None:
                    findings.append(Finding(number, institution_id, "institution closed but not open before"))
                continue
            assert digest is not None
            section[institution_id] = digest
        for kind, ids in listed.items():
            for institution_id in sorted(ids - seen[kind]):
                findings.append(
                    Finding(number, institution_id, f"the decree lists institution {kind}, but that event is not in the log")
                )  # fmt: skip
        for institution_id, leaf in zip(
            (*decree.institutions_registered, *decree.institutions_changed),
            decree.institution_leaves,
            strict=False,
        ):
            digest = section.get(institution_id)
            if digest is not None and institution_leaf_hash(institution_id, digest).hex() != leaf:
                findings.append(
                    Finding(
                        number,
                        institution_id,
                        "its institution snapshot in the log differs from the decree's",
                    )
                )
        return findings

    @staticmethod
    def _signature(decree: DeterminationIssued, trusted: TrustedKeys) -> str:
        if decree.signature is None:
            return "missing"
        key = trusted.keys.get(decree.signature.key_id)
        if key is None:
            return f"refused: key {decree.signature.key_id} is not trusted"
        if not signature_valid(key, decree.signature.value, tree_head_bytes(decree)):
            return f"refused: does not verify under key {decree.signature.key_id}"
        return f"valid (key {decree.signature.key_id})"

    @staticmethod
    def _chain(decree: DeterminationIssued, previous: DeterminationIssued | None) -> list[Finding]:
        expected = (previous.decree_number, previous.register_hash) if previous else (None, None)
        if (decree.previous_decree, decree.previous_register_hash) != expected:
            return [
                Finding(decree.decree_number, None,
                        f"chain broken: it names {decree.previous_decree} / {decree.previous_register_hash}, "
                        f"the log's previous decree is {expected[0]} / {expected[1]}")
            ]  # fmt: skip
        return []


def _merged_order(
    previous: list[tuple[str, bytes]], held: dict[str, bytes], added: list[str]
) -> list[tuple[str, bytes]]:
    """(household, leaf) of the held households in code-point order, from the previous decree's
    order and those added since: two sorted runs, which Timsort merges in linear time (sorting the
    whole register anew for every decree took a third of the check), and each household looked up
    once (the register is too large for the processor's caches)."""
    merged = [(h, leaf) for h, _ in previous if (leaf := held.get(h)) is not None]
    merged += sorted((h, held[h]) for h in added if h in held)
    merged.sort()
    # One deactivated and registered again in a single decree is in both runs.
    return list(dict(merged).items()) if len(merged) > len(held) else merged


def _root(
    order: list[tuple[str, bytes]],
    institutions: dict[str, str] | None = None,
    assistance: dict[tuple[str, str], str] | None = None,
) -> str:
    leaves = [leaf for _, leaf in order]
    # The institutions section after every household leaf; none: the households' root as before.
    section = institutions or {}
    leaves += [institution_leaf_hash(i, section[i]) for i in sorted(section)]
    # The assistance section after the institutions' (dtks_contracts.merkle.ASSISTANCE_SECTION).
    given = assistance or {}
    leaves += [assistance_leaf_hash(i, p, given[(i, p)]) for i, p in sorted(given)]
    return merkle_root_of_list(leaves).hex()


def _flat(order: list[tuple[str, bytes]], register: dict[str, str]) -> str:
    """The flat hash of decrees issued before Merkle roots, over the register in the order kept."""
    return register_digest((household_id, register[household_id]) for household_id, _ in order)

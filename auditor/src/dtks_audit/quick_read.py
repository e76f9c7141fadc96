# mypy: disable-error-code="valid-type"
"""The registry's household events read in one pass: decoded, checked and hashed without pydantic.

Reading an event through the contract's pydantic models, dumping the household back to a dict and
writing it out as canonical JSON cost about 90 µs per event, most of the auditor's time. Here
msgspec decodes the bytes straight into structs that mirror the contract (same fields, types,
patterns, lengths and bounds), and writes the canonical snapshot from those structs, sorted and
without defaults, as ``dtks_contracts.register_hash.canonical_json`` does.

This path only ever says "yes, and here is the digest" or "not sure": :func:`read_snapshot_event`
answers None for anything outside the shape it knows to be read exactly alike (a value the
contract would trim, convert or re-order, an escape sequence anywhere in the bytes, a float whose
JSON spelling could differ, an older schema version, a field the contract's Python validators
must judge), and the caller then reads the event through the contract as before, which accepts it
with the same digest or reports it as undecodable. So it cannot accept what the contract refuses:
it is a subset of the contract, held to it by the tests (auditor/tests/test_quick_read.py).

Reading history (``HISTORICAL_READ``): region existence, plausibility bounds and the text
character rules are not applied to stored events, so they are not applied here either; formats are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec

from dtks_contracts.actor import Actor
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.identifiers import check_kk_number, check_nik
from dtks_contracts.regions import check_region_code
from dtks_contracts.vocabulary.household_attributes import (
    ChronicIllness,
    CookingFuel,
    DisabilityType,
    DrinkingWaterSource,
    EducationLevel,
    FloorMaterial,
    IncomeBand,
    LightingSource,
    MaritalStatus,
    RelationToHead,
    RoofMaterial,
    Sanitation,
    Sex,
    TenureStatus,
    WallMaterial,
)
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason

# Text the contract trims (Name, Reference, DecreeNumber, the street): its length is checked as it
# is read, and :func:`_untrimmed` then accepts it only when trimming would change nothing.


def _text(max_length: int) -> Any:
    return Annotated[str, msgspec.Meta(min_length=1, max_length=max_length)]


def _untrimmed(*texts: str | None) -> None:
    """Each text starts and ends with a character that is not white space in Python's sense (a
    superset of the Unicode White_Space the contract's trimming removes). In Python rather than
    as a pattern of the decoder: a regular expression per field was a third of the decoding."""
    for text in texts:
        if text is not None and (text[0].isspace() or text[-1].isspace()):
            raise _NotSure


def _values(vocabulary: type[StrEnum]) -> Any:
    # The values as plain text: checked as they are read and written back unchanged, without
    # making enum members and reading their values again (a third of the writing time).
    return Literal[tuple(member.value for member in vocabulary)]


ChronicIllnessText = _values(ChronicIllness)
CookingFuelText = _values(CookingFuel)
DisabilityTypeText = _values(DisabilityType)
DrinkingWaterSourceText = _values(DrinkingWaterSource)
EducationLevelText = _values(EducationLevel)
FloorMaterialText = _values(FloorMaterial)
IncomeBandText = _values(IncomeBand)
LightingSourceText = _values(LightingSource)
MaritalStatusText = _values(MaritalStatus)
RelationToHeadText = _values(RelationToHead)
RoofMaterialText = _values(RoofMaterial)
SanitationText = _values(Sanitation)
SexText = _values(Sex)
TenureStatusText = _values(TenureStatus)
WallMaterialText = _values(WallMaterial)
ProgramText = _values(Program)
DeactivationReasonText = _values(DeactivationReason)
Name = _text(200)
Reference = _text(500)
DecreeNumber = _text(120)
Street = _text(300)
# The contract's patterns, anchored at the very end ('$' in Python also matches before a final
# line feed; pydantic's regular expressions do not).
EntityId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")]
VillageCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}\Z")]
Count = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Rt = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,3}\Z")]
PostalCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{5}\Z")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{8,15}\Z")]


class _Mirror(msgspec.Struct, omit_defaults=True, gc=False):
    """A contract model's fields as msgspec reads them; unknown fields are ignored, as the
    contract ignores them when reading history (``extra="ignore"`` reaches nested models). Not
    tracked by the garbage collector: they hold no cycles, and are made by the million."""


class Member(_Mirror):
    nik: str  # checked by check_nik below, as the contract's Nik type is
    name: Name
    birth_date: dt.date
    sex: SexText
    relation_to_head: RelationToHeadText
    marital_status: MaritalStatusText | None = None
    education: EducationLevelText | None = None
    attending_school: bool | None = None
    occupation: Name | None = None
    disability: DisabilityTypeText | None = None
    chronic_illness: ChronicIllnessText | None = None


class Housing(_Mirror):
    tenure: TenureStatusText | None = None
    floor_material: FloorMaterialText | None = None
    wall_material: WallMaterialText | None = None
    roof_material: RoofMaterialText | None = None
    floor_area_m2: PositiveFloat | None = None
    drinking_water: DrinkingWaterSourceText | None = None
    lighting: LightingSourceText | None = None
    electricity_capacity_va: PositiveInt | None = None
    sanitation: SanitationText | None = None
    cooking_fuel: CookingFuelText | None = None


class Assets(_Mirror):
    lpg_cylinder_5kg_or_more: bool | None = None
    refrigerator: bool | None = None
    air_conditioner: bool | None = None
    water_heater: bool | None = None
    landline_phone: bool | None = None
    television: bool | None = None
    computer: bool | None = None
    gold_or_savings_10g: bool | None = None
    bicycles: Count | None = None
    motorcycles: Count | None = None
    cars: Count | None = None
    boats: Count | None = None
    motorboats: Count | None = None
    land_m2: NonNegativeFloat | None = None
    other_house: bool | None = None
    cattle: Count | None = None
    buffalo: Count | None = None
    horses: Count | None = None
    pigs: Count | None = None
    goats_sheep: Count | None = None


class FieldVisit(_Mirror):
    visit_date: dt.date
    officer: Name
    roof_photo_ref: Reference | None = None
    floor_photo_ref: Reference | None = None
    wall_photo_ref: Reference | None = None
    head_photo_ref: Reference | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class WelfareDecile(_Mirror):
    decile: Annotated[int, msgspec.Meta(ge=1, le=10)]
    source: Name
    as_of: dt.date


class Contact(_Mirror):
    phone: Phone
    consent: bool


class Address(_Mirror):
    street: Street
    rt: Rt | None = None
    rw: Rt | None = None
    postal_code: PostalCode | None = None


class Household(_Mirror):
    kk_number: str  # checked by check_kk_number below
    address: Address
    village_code: VillageCode
    members: Annotated[tuple[Member, ...], msgspec.Meta(min_length=1)]
    household_id: EntityId | None = None
    housing: Housing | None = None
    assets: Assets | None = None
    income_band: IncomeBandText | None = None
    programs: tuple[ProgramText, ...] = ()
    field_visit: FieldVisit | None = None
    welfare_decile: WelfareDecile | None = None
    contact: Contact | None = None


class _Registered(_Mirror):
    household_id: EntityId
    decree_number: DecreeNumber
    household: Household
    proposal_id: EntityId


class _Corrected(_Registered):
    changed_fields: tuple[str, ...] = ()
    programs_added: tuple[ProgramText, ...] = ()
    programs_removed: tuple[ProgramText, ...] = ()


class _Deactivation(_Mirror):
    household_id: EntityId
    decree_number: DecreeNumber
    kk_number: str  # checked by check_kk_number below
    reason: DeactivationReasonText
    proposal_id: EntityId


# The envelope's own fields (dtks_contracts.envelope.EventEnvelope), with the payload typed.
_OccurredAt = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
    ),
]


_UUID: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"


def _envelope(name: str, payload: Any) -> Any:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        # Its canonical spelling only (the contract also reads others); as text, since making a
        # UUID object cost more than the rest of the envelope.
        ("event_id", Annotated[str, msgspec.Meta(pattern=_UUID)]),
        ("event_type", Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z_]*\.[a-z][a-z_]*\Z")]),
        ("schema_version", Annotated[int, msgspec.Meta(ge=1)]),
        ("aggregate_type", Annotated[str, msgspec.Meta(min_length=1, max_length=64)]),
        ("aggregate_id", Annotated[str, msgspec.Meta(min_length=1, max_length=200)]),
        ("aggregate_version", Annotated[int, msgspec.Meta(ge=1)]),
        ("occurred_at", _OccurredAt),
        ("correlation_id", Annotated[str, msgspec.Meta(min_length=1, max_length=200)]),
        ("payload", payload),
        ("actor", msgspec.Raw, msgspec.Raw()),  # empty when absent, b"null" when null
        ("causation_id", Annotated[str, msgspec.Meta(max_length=200)] | None, None),
        ("trace_context", dict[str, str], {}),
    ]
    return msgspec.defstruct(name, fields, gc=False)


_SNAPSHOT_TYPES: Final = {
    "registry.household_registered": "registered",
    "registry.household_corrected": "corrected",
}
_DECODERS: Final = {
    "registry.household_registered": msgspec.json.Decoder(_envelope("Registered", _Registered)),
    "registry.household_corrected": msgspec.json.Decoder(_envelope("Corrected", _Corrected)),
    "registry.household_deactivated": msgspec.json.Decoder(_envelope("Deactivated", _Deactivation)),
}
_CANONICAL: Final = msgspec.json.Encoder(order="sorted")
# Floats whose shortest spelling msgspec and Python's json write alike: Python switches to an
# exponent below 1e-4 and from 1e16 on, and spells it differently ('1e+16' against '1e16').
_PLAIN_FLOAT_MIN: Final = 1e-4
_PLAIN_FLOAT_MAX: Final = 1e15
_ACTORS_KEPT: Final = 10_000


class SnapshotFacts(NamedTuple):
    """What the fold needs of one household event."""

    kind: str  # registered | corrected | deactivated
    household_id: str
    decree_number: str
    aggregate_version: int
    digest: str | None  # dtks_contracts.register_hash.household_digest of the snapshot; None if deactivated


class _NotSure(Exception):
    """The event is outside the shape this path reads exactly like the contract."""


class QuickReader:
    """Reads household events; remembers the actors it has checked (a log holds few of them, each
    in thousands of events, and checking one is a pure function of its bytes)."""

    def __init__(self) -> None:
        self._actors: set[bytes] = set()

    def read(self, event_type: str, value: bytes) -> SnapshotFacts | None:
        """The facts of a household event of ``event_type``, or None when the contract must judge it."""
        decoder = _DECODERS.get(event_type)
        # No escape sequence anywhere: every string is its bytes, with no control character, quote
        # or backslash, so both JSON writers spell it alike (and no lone surrogate can appear).
        if decoder is None or b"\\" in value:
            return None
        try:
            envelope = decoder.decode(value)
            if envelope.event_type != event_type or envelope.schema_version != 1:
                return None  # an older or newer payload version is upcast by the contract
            self._check_envelope(envelope)
            payload = envelope.payload
            _untrimmed(payload.decree_number)
            if event_type == "registry.household_deactivated":
                check_kk_number(payload.kk_number, must_exist=False)
                return SnapshotFacts("deactivated", payload.household_id, payload.decree_number,
                                     envelope.aggregate_version, None)  # fmt: skip
            household = payload.household
            _check_household(household)
            if household.household_id != payload.household_id:
                return None
            digest = hashlib.sha256(_CANONICAL.encode(household)).hexdigest()
        except (msgspec.MsgspecError, ValueError, _NotSure):
            return None
        return SnapshotFacts(_SNAPSHOT_TYPES[event_type], payload.household_id, payload.decree_number,
                             envelope.aggregate_version, digest)  # fmt: skip

    def _check_envelope(self, envelope: Any) -> None:
        if dt.datetime.fromisoformat(envelope.occurred_at).tzinfo is None:
            raise _NotSure
        raw = bytes(envelope.actor)
        if raw not in self._actors and raw not in (b"", b"null"):
            # The contract's own model: its region rule is Python, kept in one place.
            Actor.model_validate_json(raw, extra="ignore", context=dict(HISTORICAL_READ))
            if len(self._actors) < _ACTORS_KEPT:
                self._actors.add(raw)


def _check_float(value: float | None) -> None:
    if value is not None and value != 0 and not _PLAIN_FLOAT_MIN <= abs(value) <= _PLAIN_FLOAT_MAX:
        raise _NotSure


def _check_household(household: Household) -> None:
    """What the contract checks in Python beyond the types: identifiers (their format and dates,
    not their district's existence, as for history), the village code, the programs as a sorted
    set, a whole GPS position; and floats this path writes exactly as Python's json does."""
    check_kk_number(household.kk_number, must_exist=False)
    check_region_code(household.village_code, levels=("village",), must_exist=False)
    _untrimmed(household.address.street)
    for member in household.members:
        check_nik(member.nik, must_exist=False)
        _untrimmed(member.name, member.occupation)
    programs = household.programs
    if programs and list(programs) != sorted(set(programs)):
        raise _NotSure  # the contract sorts and de-duplicates them, changing the snapshot
    if household.housing is not None:
        _check_float(household.housing.floor_area_m2)
    if household.assets is not None:
        _check_float(household.assets.land_m2)
    visit = household.field_visit
    if household.welfare_decile is not None:
        _untrimmed(household.welfare_decile.source)
    if visit is not None:
        _untrimmed(visit.officer, visit.roof_photo_ref, visit.floor_photo_ref, visit.wall_photo_ref,
                   visit.head_photo_ref)  # fmt: skip
        if (visit.latitude is None) != (visit.longitude is None):
            raise _NotSure
        _check_float(visit.latitude)
        _check_float(visit.longitude)


def canonical_household_bytes(household: Household) -> bytes:
    """The canonical JSON of a snapshot read here: ``canonical_json`` of the contract's Household."""
    return _CANONICAL.encode(household)


__all__ = ["Household", "QuickReader", "SnapshotFacts", "canonical_household_bytes"]

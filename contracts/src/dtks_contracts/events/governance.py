"""The Ministry's governance of the verification workflow (topic dtks.verification.events).

Freeze periods stop actions for a while in a scope (the whole country, a province or a regency);
deadline policies say how many working days an item may wait at a tier. The verification service
owns both (they govern its workflow) and publishes them, so the services that own the other frozen
actions (the registry's decrees, the proposal service's new proposals) can keep a local copy from
the events rather than ask verification synchronously. Freeze events are keyed by `freeze_id`,
deadline events by `policy_id`, an item's overdue notices by `proposal_id` (its own stream).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar, Final

from pydantic import Field, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload
from dtks_contracts.identifiers import EntityId
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import RegencyCode, RegionCode, VillageCode
from dtks_contracts.text import FreeText
from dtks_contracts.timestamps import UtcDateTime
from dtks_contracts.vocabulary.tiers import Tier


class FrozenAction(StrEnum):
    """What a freeze may stop."""

    TIER_DECISIONS = "tier_decisions"  # forwards and returns at every tier, the Ministry's acceptance too
    RATIFICATIONS = "ratifications"  # the regent's or mayor's decree over a batch
    DETERMINATION_DECREES = "determination_decrees"  # the Minister's quarterly decree
    NEW_PROPOSALS = "new_proposals"  # villages' new submissions


MAX_OVERDUE_ITEMS: Final = 1000  # items in one overdue notice


class FreezeDeclared(EventPayload):
    """The Ministry stops `actions` in `scope` from `starts_at` until `ends_at`."""

    event_type: ClassVar[str] = "verification.freeze_declared"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "freeze"
    aggregate_id_field: ClassVar[str] = "freeze_id"

    freeze_id: EntityId
    scope: RegionCode = Field(description="ID for the whole country, a province or a regency")
    actions: tuple[FrozenAction, ...] = Field(min_length=1)
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    reason: FreeText
    declared_by: Actor

    @model_validator(mode="after")
    def _consistent(self) -> FreezeDeclared:
        if self.ends_at <= self.starts_at:
            raise ValueError("a freeze ends after it starts")
        if len(set(self.actions)) != len(self.actions):
            raise ValueError("an action is named twice")
        return self


class FreezeShortened(EventPayload):
    """The freeze now ends earlier, at `ends_at` (never later: a longer freeze is a new declaration)."""

    event_type: ClassVar[str] = "verification.freeze_shortened"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "freeze"
    aggregate_id_field: ClassVar[str] = "freeze_id"

    freeze_id: EntityId
    ends_at: UtcDateTime
    reason: FreeText
    changed_by: Actor


class FreezeLifted(EventPayload):
    """The freeze ends at `lifted_at`, before its planned end."""

    event_type: ClassVar[str] = "verification.freeze_lifted"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "freeze"
    aggregate_id_field: ClassVar[str] = "freeze_id"

    freeze_id: EntityId
    lifted_at: UtcDateTime
    reason: FreeText
    lifted_by: Actor


class DeadlineSet(EventPayload):
    """How many working days an item may wait at `tier` (in `regency_code` only, when given)."""

    event_type: ClassVar[str] = "verification.deadline_set"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "deadline_policy"
    aggregate_id_field: ClassVar[str] = "policy_id"

    policy_id: EntityId = Field(description="tier, or tier and regency: one stream per policy")
    tier: Tier
    regency_code: RegencyCode | None = None
    working_days: int = Field(ge=1, le=365)
    set_by: Actor


class ItemOverdue(EventPayload):
    """A proposal waited past its deadline at `tier`: level 1 tells the tier's own officers, level 2
    (past a second deadline as long again) the officers of the tier above. It never moves or
    decides the proposal; the notification service turns it into a notice for `notify_role`."""

    event_type: ClassVar[str] = "verification.item_overdue"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "proposal"
    aggregate_id_field: ClassVar[str] = "proposal_id"

    proposal_id: EntityId
    round: int = Field(ge=1)
    village_code: VillageCode
    tier: Tier
    level: int = Field(ge=1, le=2)
    working_days: int = Field(ge=1, description="The deadline that passed, in working days since entry")
    due_date: dt.date = Field(description="The last working day of that deadline (WIB)")
    notify_tier: Tier
    notify_region: RegionCode


class OverdueGroup(ContractModel):
    """Items of an ItemsOverdue notice that entered the tier on one day and fell due on one day."""

    entered_on: dt.date = Field(description="The day (WIB) they entered the tier: with the tier, their stay")
    due_date: dt.date = Field(description="The last working day of the deadline that passed (WIB)")
    proposal_ids: tuple[EntityId, ...] = Field(min_length=1, max_length=MAX_OVERDUE_ITEMS)


class ItemsOverdue(EventPayload):
    """Proposals that waited past a deadline at `tier`, announced together to one region's officers:
    level 1 to the tier's own, level 2 (a second deadline as long again) to the tier above. A pass of
    the overdue scan makes one notice per tier, level and region of each of its batches, at most
    1,000 items each, grouped by day of entry and due date: a backlog of a million overdue items is a
    few thousand notices, one inbox item per region, not a million of each. Each item's stay is
    announced once per level. It never moves or decides a proposal. Replaces
    `verification.item_overdue` (one per item, on the item's stream), which old logs keep."""

    event_type: ClassVar[str] = "verification.items_overdue"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "overdue_notice"
    aggregate_id_field: ClassVar[str] = "notice_id"

    notice_id: EntityId
    tier: Tier
    level: int = Field(ge=1, le=2)
    notify_tier: Tier
    notify_region: RegionCode
    groups: tuple[OverdueGroup, ...] = Field(min_length=1, max_length=MAX_OVERDUE_ITEMS)

    @model_validator(mode="after")
    def _at_most_a_thousand(self) -> ItemsOverdue:
        if self.count > MAX_OVERDUE_ITEMS:
            raise ValueError(f"a notice lists at most {MAX_OVERDUE_ITEMS} items, not {self.count}")
        return self

    @property
    def count(self) -> int:
        return sum(len(g.proposal_ids) for g in self.groups)

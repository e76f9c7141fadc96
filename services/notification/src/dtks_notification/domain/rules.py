"""From events to notices: who must hear about what happened, and what the queues now hold.

The seeds of this project report proposals that stall because nobody knew they were waiting or
why they came back. The rules close that loop:
- the village operator hears when a proposal is returned (with every reason, in words they can act
  on) and when it is determined into the register; an institution's proposer (the regency's social
  service or the institution's operator) likewise, for its registration, change, closure and assistance;
- each tier learns what waits in its queue, collected into a digest per tier and region (see
  :mod:`dtks_notification.domain.digest`), never one message per proposal;
- a household that gave a phone number and consent hears when it enters or leaves the register;
- the regency's social service hears when the regent ratified its batch;
- a tier's officers hear when an item waited past its deadline there, and the tier above when it
  waited past a second deadline (escalation tells, it never moves an item);
- partner agencies receive the determined register events they subscribed to, institutions' too
  (matched by the caller with :mod:`dtks_notification.domain.subscriptions`).

Events are read from different topics, so a proposal's submission may arrive after its return;
every rule therefore works from the event's own fields, and uses what was learned earlier (who
submitted, where a household lives, its phone) only to address the notice more precisely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import (
    AcceptedByMinistry,
    BatchRatified,
    EventPayload,
    Finding,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    IntegrityChecked,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
    ReturnedAtTier,
    SentBackForCorrection,
    VerifiedAtTier,
    WelfareDecileSet,
)
from dtks_contracts.events.determination_chunks import DeterminationChunk
from dtks_contracts.events.governance import ItemOverdue, ItemsOverdue
from dtks_contracts.events.registry import (
    DeterminationIssued,
    InstitutionAssistanceDetermined,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionRegistered,
)
from dtks_contracts.regions import region_name
from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalSubject
from dtks_contracts.vocabulary.reasons import REASON_MESSAGES
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import (
    TIER_ROLE,
    IntegrityStage,
    Tier,
    first_tier,
    next_tier,
    tier_region,
)
from dtks_notification.domain.notices import ActorAudience, HouseholdAudience, Notice
from dtks_notification.domain.subscriptions import PublicFacts

TIER_NAMES = {
    Tier.DISTRICT: "district",
    Tier.REGENCY: "regency social service",
    Tier.RATIFICATION: "regent's ratification",
    Tier.PROVINCE: "province",
    Tier.MINISTRY: "Ministry",
}


@dataclass(frozen=True)
class ProposalFacts:
    village_code: str
    submitted_by: str | None = None  # the operator's subject, to address them by name
    # The kind (its tier path says which queue follows) and who proposed it (an institution's
    # proposal is answered to the social service or the institution's operator, not the village);
    # None while unknown: a household's, proposed by the village operator.
    kind: str | None = None
    submitter_role: str | None = None
    submitter_region: str | None = None

    @property
    def proposal_kind(self) -> ProposalKind:
        return ProposalKind(self.kind) if self.kind else ProposalKind.NEW_HOUSEHOLD


def _kind_of(known: Knowledge, proposal_id: str) -> ProposalKind:
    facts = known.proposals.get(proposal_id)
    return facts.proposal_kind if facts else ProposalKind.NEW_HOUSEHOLD


@dataclass(frozen=True)
class HouseholdFacts:
    village_code: str
    kk_number: str
    programs: tuple[str, ...] = ()
    phone: str | None = None  # only when the household consented to be contacted


@dataclass
class Knowledge:
    """What earlier events taught: enough to address notices for events that do not say it all."""

    proposals: dict[str, ProposalFacts] = field(default_factory=dict)
    households: dict[str, HouseholdFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueEntry:
    """A proposal now waits at ``tier`` for the officers of ``region``."""

    tier: Tier
    region: str
    proposal_id: str


@dataclass(frozen=True)
class QueueExit:
    """A proposal left the queue of ``tier`` (``None``: of every tier, e.g. withdrawn)."""

    proposal_id: str
    tier: Tier | None


@dataclass
class Decision:
    notices: list[Notice] = field(default_factory=list)
    queue_entries: list[QueueEntry] = field(default_factory=list)
    queue_exits: list[QueueExit] = field(default_factory=list)
    learned_proposals: dict[str, ProposalFacts] = field(default_factory=dict)
    learned_households: dict[str, HouseholdFacts] = field(default_factory=dict)
    public: PublicFacts | None = None  # set for events agencies may subscribe to


def place(code: str) -> str:
    """``"17.71.01.1001"`` -> ``"Pagar Dewa (17.71.01.1001)"``; the code alone if it is unknown."""
    try:
        return f"{region_name(code)} ({code})"
    except (KeyError, ValueError):
        return code


def masked_kk(kk_number: str) -> str:
    """Only the last four digits: enough for a family to recognise its card, not to misuse it."""
    return f"…{kk_number[-4:]}"


def reason_lines(reasons: Sequence[Finding]) -> list[str]:
    """One line per finding: the standard sentence for its code, the specifics, where it is."""
    lines = []
    for finding in reasons:
        standard = REASON_MESSAGES[finding.code]
        text = finding.message if standard in finding.message else f"{standard} {finding.message}"
        where = f" [{finding.field_path}]" if finding.field_path else ""
        lines.append(f"- {finding.code.value}: {text}{where}")
    return lines


def decide(event: EventEnvelope, payload: EventPayload, known: Knowledge) -> Decision:
    """All that follows from one event. ``known`` is read, never changed (the caller applies
    ``learned_*`` to it, so the next event in the same batch sees them).

    Over 60 lines because it is one ``match`` over the event types, each case the notices that event
    calls for; read top to bottom it is the table of who hears of what."""
    d = Decision()
    match payload:
        case ProposalSubmitted() | ProposalResubmitted():
            by = payload.submitted_by
            subject = by.subject if by else None
            if payload.kind.subject is ProposalSubject.INSTITUTION and by is not None:
                learned = ProposalFacts(
                    payload.village_code, subject, payload.kind.value, by.role.value, by.region
                )
            else:  # a household's facts stay as they were (an unknown kind reads as a household's)
                learned = ProposalFacts(payload.village_code, subject)
            d.learned_proposals[payload.proposal_id] = learned
        case ProposalWithdrawn():
            d.queue_exits.append(QueueExit(payload.proposal_id, None))
        case IntegrityChecked():
            _learn_village(d, known, payload.proposal_id, payload.village_code)
            if payload.stage is IntegrityStage.ENTRY and payload.passed:
                first = first_tier(_kind_of(known, payload.proposal_id))
                region = tier_region(first, payload.village_code)
                d.queue_entries.append(QueueEntry(first, region, payload.proposal_id))
        case VerifiedAtTier():
            _learn_village(d, known, payload.proposal_id, payload.village_code)
            d.queue_exits.append(QueueExit(payload.proposal_id, payload.tier))
            following = next_tier(payload.tier, _kind_of(known, payload.proposal_id))
            if following is not None:
                region = tier_region(following, payload.village_code)
                d.queue_entries.append(QueueEntry(following, region, payload.proposal_id))
        case ReturnedAtTier():
            _learn_village(d, known, payload.proposal_id, payload.village_code)
            d.queue_exits.append(QueueExit(payload.proposal_id, payload.tier))
            d.notices.append(_returned(event, payload, known))
        case SentBackForCorrection():
            _learn_village(d, known, payload.proposal_id, payload.village_code)
            d.queue_exits.append(QueueExit(payload.proposal_id, payload.tier))
            region = tier_region(payload.to_tier, payload.village_code)
            d.queue_entries.append(QueueEntry(payload.to_tier, region, payload.proposal_id))
            d.notices.append(_sent_back(event, payload, known))
        case AcceptedByMinistry():
            d.queue_exits.append(QueueExit(payload.proposal_id, Tier.MINISTRY))
        case BatchRatified():
            d.notices.append(_batch_ratified(event, payload))
        case ItemOverdue():
            d.notices.append(_overdue(event, payload))
        case ItemsOverdue():
            d.notices.append(_overdue_batch(event, payload))
        case HouseholdRegistered() | HouseholdCorrected():
            _household_snapshot(d, event, payload, known)
        case HouseholdDeactivated():
            _household_deactivated(d, event, payload, known)
        case WelfareDecileSet():
            facts = known.households.get(payload.household_id)
            d.public = PublicFacts(
                event.event_type, facts.village_code if facts else None, facts.programs if facts else ()
            )
        case DeterminationIssued():
            # A decree in one event, or a chunked one's manifest (which subclasses it): the manifest
            # carries every field but the long lists, the assistance among them.
            d.public = PublicFacts(event.event_type, None, ())
            d.notices += _assistance_determined(event, payload, known)
        case DeterminationChunk():
            # Passed on to agencies as it comes; its manifest, after every chunk, says it is whole.
            d.public = PublicFacts(event.event_type, None, ())
        case InstitutionRegistered() | InstitutionChanged():
            # Matched by where the institution is; it has no programs, so a subscription narrowed to
            # programs (which select households) does not receive it.
            d.public = PublicFacts(event.event_type, payload.institution.village_code, ())
            d.notices.append(_institution_determined(event, payload, known, payload.institution.village_code))
        case InstitutionAssistanceDetermined():
            # Matched, like the institution, by where it is; the proposer's notice comes with the decree.
            d.public = PublicFacts(event.event_type, payload.village_code, ())
        case InstitutionClosed():
            proposal = known.proposals.get(payload.proposal_id)
            d.public = PublicFacts(event.event_type, proposal.village_code if proposal else None, ())
            if proposal is not None:
                d.notices.append(_institution_determined(event, payload, known, proposal.village_code))
        case _:
            pass
    return d


def _learn_village(d: Decision, known: Knowledge, proposal_id: str, village_code: str) -> None:
    if proposal_id not in known.proposals:
        d.learned_proposals[proposal_id] = ProposalFacts(village_code)


def _operator(known: Knowledge, proposal_id: str, village_code: str) -> ActorAudience:
    facts = known.proposals.get(proposal_id)
    subject = facts.submitted_by if facts and facts.village_code == village_code else None
    if facts and facts.submitter_role and facts.submitter_region:
        return ActorAudience(facts.submitter_role, facts.submitter_region, subject)
    return ActorAudience(Role.VILLAGE_OPERATOR.value, village_code, subject)


def _returned(event: EventEnvelope, p: ReturnedAtTier, known: Knowledge) -> Notice:
    tier = TIER_NAMES[p.tier]
    lines = [
        f"The {tier} tier returned proposal {p.proposal_id} (round {p.round}) from "
        f"{place(p.village_code)}. What to correct:",
        *reason_lines(p.reasons),
    ]
    if p.note:
        lines.append(f"Note from the verifier: {p.note}")
    lines.append("Correct the proposal and resubmit it; it will pass every tier again.")
    return Notice(
        rule="proposal_returned",
        audience=_operator(known, p.proposal_id, p.village_code),
        title=f"Proposal {p.proposal_id} returned at the {tier} tier",
        body="\n".join(lines),
        related_event_id=event.event_id,
    )


def _sent_back(event: EventEnvelope, p: SentBackForCorrection, known: Knowledge) -> Notice:
    """The village is told (it need not resubmit): the regency's social service corrects it."""
    at, to = TIER_NAMES[p.tier], TIER_NAMES[p.to_tier]
    lines = [
        f"The {at}'s integrity check sent proposal {p.proposal_id} (round {p.round}) from "
        f"{place(p.village_code)} back to the {to} of {place(tier_region(p.to_tier, p.village_code))} "
        "for correction. What it found:",
        *reason_lines(p.reasons),
    ]
    if p.note:
        lines.append(f"Note from the verifier: {p.note}")
    lines.append(
        f"No resubmission is needed from the village; the {to} may ask you for documents or return it to you."
    )
    return Notice(
        rule="proposal_sent_back_to_regency",
        audience=_operator(known, p.proposal_id, p.village_code),
        title=f"Proposal {p.proposal_id} sent back to the {to} for correction",
        body="\n".join(lines),
        related_event_id=event.event_id,
    )


def _batch_ratified(event: EventEnvelope, p: BatchRatified) -> Notice:
    count = len(p.proposal_ids)
    return Notice(
        rule="batch_ratified",
        audience=ActorAudience(Role.REGENCY_OPERATOR.value, p.regency_code),
        title=f"Ratification batch {p.batch_id} ratified by decree {p.decree_number}",
        body=(
            f"The regent ratified batch {p.batch_id} of {place(p.regency_code)} by decree "
            f"{p.decree_number} of {p.decree_date.isoformat()}: {count} proposal"
            f"{'s' if count != 1 else ''} now go on to the province."
        ),
        related_event_id=event.event_id,
    )


def _overdue(event: EventEnvelope, p: ItemOverdue) -> Notice:
    """One item past its deadline (the per-item events of logs written before notices by region)."""
    tier = TIER_NAMES[p.tier]
    waited = (
        f"Proposal {p.proposal_id} from {place(p.village_code)} has waited at the {tier} tier "
        f"past its deadline of {p.working_days} working days (due {p.due_date.isoformat()})."
    )
    asks = ("Please decide on it.", f"It is escalated to you; please follow it up with the {tier} tier.")
    return _overdue_notice(event, p, f"proposal {p.proposal_id}", waited, asks)


_DAYS_LISTED: Final = 10  # days of entry a notice names; the rest are counted (the queue lists each item)


def _overdue_batch(event: EventEnvelope, p: ItemsOverdue) -> Notice:
    """One notice for a region's overdue items of one batch of the scan, counted by day of entry."""
    count = p.count
    items = f"{count} proposal{'s' if count != 1 else ''}"
    days = "; ".join(
        f"{len(g.proposal_ids)} entered on {g.entered_on.isoformat()}, due {g.due_date.isoformat()}"
        for g in p.groups[:_DAYS_LISTED]
    )
    rest = sum(len(g.proposal_ids) for g in p.groups[_DAYS_LISTED:])
    more = f"; {rest} more on later days" if rest else ""
    tier = TIER_NAMES[p.tier]
    waited = f"{items} waited at the {tier} tier past their deadline: {days}{more}."
    asks = (
        "Please decide on them (your queue shows each one's due date).",
        f"They are escalated to you; please follow them up with the {tier} tier.",
    )
    return _overdue_notice(event, p, items, waited, asks)


def _overdue_notice(
    event: EventEnvelope, p: ItemOverdue | ItemsOverdue, what: str, waited: str, asks: tuple[str, str]
) -> Notice:
    """Level 1 to the tier's own officers, level 2 escalated to those of the tier above; `asks` says
    what each is asked to do."""
    first = p.level == 1
    return Notice(
        rule="item_overdue" if first else "item_escalated",
        audience=ActorAudience(TIER_ROLE[p.notify_tier].value, p.notify_region),
        title=f"{'Overdue at' if first else 'Escalated from'} the {TIER_NAMES[p.tier]} tier: {what}",
        body=f"{waited} {asks[0] if first else asks[1]}",
        related_event_id=event.event_id,
    )


_INSTITUTION_OUTCOME = {
    InstitutionRegistered.event_type: "registered",
    InstitutionChanged.event_type: "changed",
    InstitutionClosed.event_type: "closed",
}


def _institution_determined(
    event: EventEnvelope,
    p: InstitutionRegistered | InstitutionChanged | InstitutionClosed,
    known: Knowledge,
    village_code: str,
) -> Notice:
    """Whoever proposed the institution's registration, change or closure (the regency's social
    service or the institution's operator, as for a return) hears that the decree determined it."""
    what = _INSTITUTION_OUTCOME[event.event_type]
    name = f" ({p.institution.name})" if isinstance(p, InstitutionRegistered | InstitutionChanged) else ""
    reason = f" ({p.reason.value})" if isinstance(p, InstitutionClosed) else ""
    return Notice(
        rule=f"proposal_determined_institution_{what}",
        audience=_operator(known, p.proposal_id, village_code),
        title=f"Proposal {p.proposal_id} determined: institution {what}",
        body=(
            f"Decree {p.decree_number} {what} institution {p.institution_id}{name} of {place(village_code)}"
            f"{reason}, from proposal {p.proposal_id}."
        ),
        related_event_id=event.event_id,
    )


def _assistance_determined(event: EventEnvelope, p: DeterminationIssued, known: Knowledge) -> list[Notice]:
    """The proposer of each assistance the decree lists hears what the institution is to receive.
    An assistance whose proposal was never seen here (no submission read) has nobody to address."""
    notices = []
    for a in p.institution_assistance:
        facts = known.proposals.get(a.proposal_id)
        if facts is None:
            continue
        notices.append(
            Notice(
                rule="proposal_determined_assistance",
                audience=_operator(known, a.proposal_id, facts.village_code),
                title=f"Proposal {a.proposal_id} determined: assistance for institution {a.institution_id}",
                body=(
                    f"Decree {p.decree_number} determined {a.program.value} for institution {a.institution_id} "
                    f"of {place(facts.village_code)} from {a.starts_on.isoformat()} to {a.ends_on.isoformat()}, "
                    f"{a.basis.value.replace('_', ' ')} ({a.residents_counted} residents counted), "
                    f"from proposal {a.proposal_id}."
                ),
                related_event_id=event.event_id,
            )
        )
    return notices


def _household_snapshot(
    d: Decision, event: EventEnvelope, p: HouseholdRegistered | HouseholdCorrected, known: Knowledge
) -> None:
    h = p.household
    phone = h.contact.phone if h.contact is not None and h.contact.consent else None
    d.learned_households[p.household_id] = HouseholdFacts(
        h.village_code, h.kk_number, tuple(str(x) for x in h.programs), phone
    )
    d.public = PublicFacts(event.event_type, h.village_code, tuple(str(x) for x in h.programs))
    registered = isinstance(p, HouseholdRegistered)
    what = "registered" if registered else "corrected"
    d.notices.append(
        Notice(
            rule=f"proposal_determined_{what}",
            audience=_operator(known, p.proposal_id, h.village_code),
            title=f"Proposal {p.proposal_id} determined: household {what}",
            body=(
                f"Decree {p.decree_number} {what} household {p.household_id} (family card "
                f"{masked_kk(h.kk_number)}) of {place(h.village_code)}, from proposal {p.proposal_id}."
            ),
            related_event_id=event.event_id,
        )
    )
    if registered and phone is not None:
        d.notices.append(
            Notice(
                rule="household_entered_register",
                audience=HouseholdAudience(p.household_id, phone),
                title=(
                    f"DTKS: your household (family card {masked_kk(h.kk_number)}) is now in the social "
                    f"welfare register, by decree {p.decree_number}."
                ),
                body="",
                related_event_id=event.event_id,
            )
        )


def _household_deactivated(
    d: Decision, event: EventEnvelope, p: HouseholdDeactivated, known: Knowledge
) -> None:
    facts = known.households.get(p.household_id)
    proposal = known.proposals.get(p.proposal_id)
    village = facts.village_code if facts else (proposal.village_code if proposal else None)
    d.public = PublicFacts(event.event_type, village, facts.programs if facts else ())
    if village is not None:
        d.notices.append(
            Notice(
                rule="proposal_determined_deactivated",
                audience=_operator(known, p.proposal_id, village),
                title=f"Proposal {p.proposal_id} determined: household deactivated",
                body=(
                    f"Decree {p.decree_number} deactivated household {p.household_id} (family card "
                    f"{masked_kk(p.kk_number)}) of {place(village)} ({p.reason.value}), from proposal "
                    f"{p.proposal_id}."
                ),
                related_event_id=event.event_id,
            )
        )
    if facts is not None and facts.phone is not None:
        d.notices.append(
            Notice(
                rule="household_left_register",
                audience=HouseholdAudience(p.household_id, facts.phone),
                title=(
                    f"DTKS: your household (family card {masked_kk(p.kk_number)}) left the social welfare "
                    f"register by decree {p.decree_number}. Ask your village office if this is wrong."
                ),
                body="",
                related_event_id=event.event_id,
            )
        )

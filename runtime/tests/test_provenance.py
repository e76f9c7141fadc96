"""Signing and checking who produced an event (pure: no broker)."""

from __future__ import annotations

import pytest

from dtks_runtime.provenance import (
    EventSigner,
    ProvenanceCheck,
    ProvenanceError,
    development_key,
    topic_owner,
)
from dtks_runtime.settings import RuntimeSettings

VALUE = b'{"event_type": "registry.household_registered"}'


def _check(prefix: str = "") -> ProvenanceCheck:
    return RuntimeSettings(topic_prefix=prefix).provenance_check()


def test_a_record_signed_by_the_topics_owner_passes_and_names_its_signer():
    headers = RuntimeSettings().event_signer("registry").headers(VALUE)
    assert _check("t1.").signer("t1.dtks.registry.events", headers, VALUE) == "registry"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([], "unsigned event"),
        (EventSigner("registry", b"not the registry's key").headers(VALUE), "signature does not match"),
        (EventSigner("proposal", development_key("proposal")).headers(VALUE), "only 'registry' may write"),
        (EventSigner("mallory", b"k").headers(VALUE), "'mallory' is not a service"),
    ],
)
def test_unsigned_forged_or_misplaced_records_are_refused_with_a_reason(headers, reason):
    with pytest.raises(ProvenanceError, match=reason):
        _check().signer("dtks.registry.events", headers, VALUE)


def test_a_changed_value_breaks_the_signature():
    headers = RuntimeSettings().event_signer("registry").headers(VALUE)
    with pytest.raises(ProvenanceError, match="signature does not match"):
        _check().signer("dtks.registry.events", headers, VALUE.replace(b"registered", b"deactivated"))


def test_on_a_retry_topic_the_event_types_owner_must_have_signed():
    headers = RuntimeSettings().event_signer("proposal").headers(VALUE)
    assert _check().signer("dtks.retry.registry-audit", headers, VALUE) == "proposal"  # no owner by name
    with pytest.raises(ProvenanceError, match="not by 'registry'"):
        ProvenanceCheck.check_event_type("proposal", "registry.household_registered")


def test_topic_owners_are_the_first_segment_after_dtks_and_the_prefix():
    assert topic_owner("t9.dtks.verification.events", "t9.") == "verification"
    assert topic_owner("dtks.registry.public") == "registry"
    assert topic_owner("dtks.dlq.registry-audit") is None
    assert topic_owner("scratch") is None


def test_configured_keys_replace_the_development_keys():
    settings = RuntimeSettings(event_keys={"registry": "s3cret"})
    signed = settings.event_signer("registry").headers(VALUE)
    with pytest.raises(ProvenanceError, match="signature does not match"):
        RuntimeSettings().provenance_check().signer("dtks.registry.events", signed, VALUE)
    assert settings.provenance_check().signer("dtks.registry.events", signed, VALUE) == "registry"


def test_production_refuses_to_start_without_event_keys():
    settings = RuntimeSettings(
        env="production",
        oidc_issuer="https://id.example.go.id/realms/dtks",
        kafka_security_protocol="SASL_SSL",
        kafka_username="registry",
        kafka_password="p",
    )
    with pytest.raises(RuntimeError, match="DTKS_EVENT_KEYS"):
        settings.check_production_safety()
    with pytest.raises(RuntimeError, match="signing key of registry"):
        settings.event_signer("registry")
    partial = RuntimeSettings(env="production", jwt_secret="x", event_keys={"registry": "k"})
    with pytest.raises(RuntimeError, match="notification, proposal, verification"):
        partial.provenance_check()

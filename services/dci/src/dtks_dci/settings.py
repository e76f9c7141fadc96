"""The DCI adapter's settings (``DTKS_DCI_*``), beside the runtime's."""

from __future__ import annotations

import hashlib

from pydantic import Field

from dtks_dci.domain.records import FIELD_GROUPS
from dtks_dci.domain.signing import SigningKey, b64decode_any
from dtks_runtime.callback_guard import CallbackPolicy
from dtks_runtime.settings import RuntimeSettings

_DEV_SEED = hashlib.sha256(b"dtks-dci-development-signing-key-not-for-production").digest()


class DciSettings(RuntimeSettings):
    registry_url: str = "http://127.0.0.1:8003"
    # Who we are in the envelopes (sender_id of what we send; receiver_id agencies address).
    dci_registry_id: str = "dtks.kemensos.go.id"
    # Our Ed25519 signing key: base64 of the 32-byte seed, and its key id. Unset outside production:
    # a development key derived from a fixed text; refused in production.
    dci_signing_key: str | None = None
    dci_signing_key_id: str = "dtks-dci-1"
    # Agencies' public keys: {"sender_id": {"key_id": "base64 or base64url of the 32-byte key"}}.
    dci_sender_keys: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Field groups each agency (its client id = sender_id) is granted; an agency not named gets
    # dci_default_fields. Groups: name, demographics, address, welfare, programs.
    dci_field_grants: dict[str, list[str]] = Field(default_factory=dict)
    dci_default_fields: list[str] = Field(default_factory=lambda: ["name"])
    # False only to run conformance tools that cannot sign (the compliance kit sends a placeholder
    # signature): signatures are then not checked at all. Refused in production.
    dci_verify_signatures: bool = True
    # How old a message_ts may be, and how far ahead, before the message is refused as stale.
    dci_message_max_age_seconds: float = 300.0
    dci_message_max_skew_seconds: float = 60.0
    # An expression search matching more than this is refused (rjct.search.too_many_records_found).
    dci_max_matches: int = 10_000
    # The registry is read as this service (a national reader): client credentials at the identity
    # provider when given, else (outside production) a development token.
    dci_client_id: str | None = None
    dci_client_secret: str | None = None
    dci_callback_timeout_seconds: float = 10.0
    dci_callback_max_attempts: int = 8
    dci_worker_poll_seconds: float = 0.5
    # Households a notify message carries at most: a decree's changes go out in pages of this many
    # (a Group record is some 1-2 KB of JSON, so 250 keep a message well under the 1 MB many web
    # servers take by default; a Member subscription sends a record per member).
    dci_notify_page_households: int = Field(default=250, ge=1, le=4000)
    # Development only: let partners' sender_uri reach loopback and private addresses (the tests' and
    # the demo's receivers run on 127.0.0.1). Refused in production, where callbacks must be https
    # and public (see dtks_runtime.callback_guard); metadata addresses are refused whatever it says.
    dci_allow_private_callbacks: bool = False

    @property
    def callback_policy(self) -> CallbackPolicy:
        return CallbackPolicy(require_https=self.production, allow_private=self.dci_allow_private_callbacks)

    def signing_key(self) -> SigningKey:
        if self.dci_signing_key:
            return SigningKey.from_seed(self.dci_signing_key_id, b64decode_any(self.dci_signing_key))
        if self.production:
            raise RuntimeError("DTKS_DCI_SIGNING_KEY must be set in production")
        return SigningKey.from_seed(self.dci_signing_key_id, _DEV_SEED)

    def check(self) -> None:
        if self.production and self.dci_allow_private_callbacks:
            raise RuntimeError("DTKS_DCI_ALLOW_PRIVATE_CALLBACKS must not be set in production")
        if self.production and not self.dci_verify_signatures:
            raise RuntimeError(
                "DTKS_DCI_VERIFY_SIGNATURES=false is for conformance tests only, never in production"
            )

    def fields_of(self, agency: str) -> list[str]:
        chosen = self.dci_field_grants.get(agency, self.dci_default_fields)
        return [g for g in chosen if g in FIELD_GROUPS]

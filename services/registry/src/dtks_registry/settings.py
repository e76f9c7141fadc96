"""The registry's settings, from the environment only (DTKS_* as in the runtime, plus DTKS_REGISTRY_*)."""

from __future__ import annotations

from pydantic import Field

from dtks_contracts.decree_chunks import RECORDS_PER_CHUNK
from dtks_registry.decree_signing import DecreeSigner
from dtks_runtime.settings import RuntimeSettings


class RegistrySettings(RuntimeSettings):
    # Citizens' check: each client address may ask this many times per minute, in bursts of up to
    # `burst`. Enough for a family checking its members; far too few to enumerate NIKs.
    registry_public_check_per_minute: float = 10.0
    registry_public_check_burst: int = 5
    # Replaced by the runtime's DTKS_FORWARDED_ALLOW_IPS (the proxies whose X-Forwarded-For is
    # believed, for every service); refused when set, so a deployment that relied on it does not
    # silently limit all its citizens as the one address of its proxy.
    registry_trust_forwarded_for: bool = False
    # Processes an audit replay reads the partitions with (parsing and validating events is most of
    # its cost, so a second process on a second core nearly halves it).
    registry_replay_workers: int = 2
    # The Ministry's Ed25519 decree signing key, a 32-byte seed in hex (see dtks_registry.decree_signing);
    # unset outside production: the public development key. The previous one only while rotating.
    decree_signing_key: str | None = None
    decree_previous_signing_key: str | None = None
    # DTKS_DECREE_CHUNK_RECORDS: a decree listing more records than this is published as chunks of
    # this many records plus a manifest (dtks_contracts.decree_chunks); smaller only in tests, so that
    # a decree of a few households goes the way a national one does.
    decree_chunk_records: int = Field(default=RECORDS_PER_CHUNK, ge=1)

    def decree_signer(self) -> DecreeSigner:
        return DecreeSigner.from_seeds(
            self.decree_signing_key, self.decree_previous_signing_key, production=self.production
        )

    def check_production_safety(self) -> None:
        super().check_production_safety()
        self.decree_signer()  # raises in production without a real key

    def check_client_address_rule(self) -> None:
        if self.registry_trust_forwarded_for:
            raise RuntimeError(
                "DTKS_REGISTRY_TRUST_FORWARDED_FOR is no longer read: set DTKS_FORWARDED_ALLOW_IPS to the "
                "addresses of the proxies in front of the service, whose X-Forwarded-For is then believed"
            )

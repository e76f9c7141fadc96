"""The registry's settings, from the environment only (DTKS_* as in the runtime, plus DTKS_REGISTRY_*)."""

from __future__ import annotations

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

    def check_client_address_rule(self) -> None:
        if self.registry_trust_forwarded_for:
            raise RuntimeError(
                "DTKS_REGISTRY_TRUST_FORWARDED_FOR is no longer read: set DTKS_FORWARDED_ALLOW_IPS to the "
                "addresses of the proxies in front of the service, whose X-Forwarded-For is then believed"
            )

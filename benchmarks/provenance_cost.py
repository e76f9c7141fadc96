"""Per-event cost of signing and verifying event provenance (dtks_runtime.provenance).

Run: .venv/bin/python -m benchmarks.provenance_cost. Prints CPU microseconds per event for a typical
submission-sized envelope and a large one; compare with ~20 µs per event of a replay (50,000/s)
or of consume-and-apply (55,000/s)."""

from __future__ import annotations

import time

from dtks_contracts.envelope import EventEnvelope
from dtks_registry.testing import acceptance, ago, make_household
from dtks_runtime.provenance import EventSigner, ProvenanceCheck, development_key

ROUNDS = 200_000


def _per_event(run, rounds: int) -> float:
    start = time.process_time()  # CPU time: the machine may be busy with other work
    for _ in range(rounds):
        run()
    return (time.process_time() - start) / rounds * 1e6


def main() -> None:
    signer = EventSigner("registry", development_key("registry"))
    check = ProvenanceCheck({"registry": development_key("registry")})
    real = acceptance("prop-cost", accepted_at=ago(1), household=make_household(1)).to_bytes()
    # For scale, on the same (possibly busy) machine: decoding the envelope, which every consumer does.
    decode = _per_event(lambda: EventEnvelope.from_bytes(real), ROUNDS // 10)
    print(f"acceptance envelope ({len(real)} bytes): EventEnvelope.from_bytes {decode:.2f} µs/event")
    for label, value in (("that envelope", real), ("an 8 KB record", b"x" * 8_000)):
        headers = signer.headers(value)
        sign = _per_event(lambda v=value: signer.headers(v), ROUNDS)
        verify = _per_event(lambda v=value, h=headers: check.signer("dtks.registry.events", h, v), ROUNDS)
        print(f"{label}: sign {sign:.2f} µs/event, verify {verify:.2f} µs/event (HMAC-SHA256)")


if __name__ == "__main__":
    main()

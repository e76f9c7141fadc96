"""Field photos as evidence: uploaded content-addressed (the hash the officer names is checked
against the bytes), limited to JPEG, PNG and HEIC by their own bytes, their EXIF position and time
kept beside them; and served back to those entitled to the proposal's verification record."""

from __future__ import annotations

import hashlib
from typing import Any

from dtks_contracts.vocabulary import TIER_ROLE, Role
from dtks_runtime.auth import Principal
from dtks_runtime.errors import DomainError
from dtks_verification.adapters import field_visits, photos
from dtks_verification.adapters.photo_store import in_photo_thread
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.photo_evidence import PhotoMetadata, read_metadata, sniff_type

UPLOADERS = frozenset({Role.DISTRICT_VERIFIER, Role.REGENCY_OPERATOR})
# Who sees photos: the tiers' officers and the auditor, as they read proposals' verification records.
VIEWERS = frozenset({*TIER_ROLE.values(), Role.AUDITOR})


def url_of(sha256: str) -> str:
    """Where a photo is served (GET, this service), for records that name it."""
    return f"/evidence/{sha256}"


def with_urls(photo_refs: Any) -> list[dict[str, Any]]:
    """A visit's photo references, each with the URL its bytes are served at."""
    return [{**p, "url": url_of(p["sha256"])} for p in photo_refs or ()]


def photo_not_found(sha256: str) -> DomainError:
    return DomainError("photo_not_found", f"No photo {sha256} is part of this proposal's field visits.")


def _hash_and_metadata(data: bytes) -> tuple[str, PhotoMetadata]:
    return hashlib.sha256(data).hexdigest(), read_metadata(data)


async def upload_photo(
    deps: VerificationDeps, principal: Principal, sha256: str, data: bytes
) -> dict[str, Any]:
    if principal.role not in UPLOADERS:
        raise DomainError(
            "role_not_allowed", "Field photos are uploaded by district verifiers and regency operators."
        )
    # Hashing and reading EXIF of up to the body limit (10 MiB) take tens of milliseconds: off the
    # loop, in one hop to the photos' own threads (the default pool queued them behind fsyncs).
    actual, meta = await in_photo_thread(_hash_and_metadata, data)
    if actual != sha256:
        raise DomainError(
            "photo_hash_mismatch",
            "The photo's bytes do not have the SHA-256 its address names; it may have been damaged on the "
            "way. Upload the file again, under the hash of the file itself.",
            extra={"expected_sha256": sha256, "received_sha256": actual},
        )
    content_type = sniff_type(data)
    if content_type is None:
        raise DomainError(
            "photo_type_not_allowed", "Only JPEG, PNG and HEIC photos are accepted; take or save it as one."
        )
    # The bytes first, then the row: a row always has its bytes; bytes without a row (a crash between)
    # are only re-written by the next upload of the same photo.
    await deps.photo_store.put(sha256, data, content_type)
    async with deps.unit_of_work() as uow:
        first = await photos.record(uow.conn, sha256, content_type, len(data), meta, principal.as_actor())
    return {
        "sha256": sha256,
        "content_type": content_type,
        "size_bytes": len(data),
        "created": first,
        "taken_at": meta.taken_at.isoformat() if meta.taken_at else None,
        "latitude": meta.latitude,
        "longitude": meta.longitude,
    }


async def photo_of_proposal(deps: VerificationDeps, proposal_id: str, sha256: str) -> tuple[bytes, str]:
    """The bytes and type of a photo one of the proposal's visits names (the caller checked the reader)."""
    async with deps.connection() as conn:
        if not await field_visits.names_photo(conn, proposal_id, sha256):
            raise photo_not_found(sha256)
        content_type = await photos.content_type_of(conn, sha256)
    data = await deps.photo_store.get(sha256) if content_type else None
    if data is None or content_type is None:
        raise photo_not_found(sha256)
    return data, content_type


async def visible_photo(deps: VerificationDeps, principal: Principal, sha256: str) -> photos.StoredPhoto:
    """A photo the reader may see: their region holds the village of a visit that names it (the
    Ministry's, the whole country, holds every one). A photo no visit the reader may see names reads
    as an unknown one, as a proposal outside one's region does."""
    if principal.role not in VIEWERS:
        raise DomainError("role_not_allowed", "Your role cannot see field photos.")
    async with deps.connection() as conn:
        stored = await photos.stored_photo(conn, sha256)
    if stored is None or not any(principal.covers(v) for v in stored.villages):
        raise DomainError("photo_not_found", f"No photo {sha256} is part of a field visit in your region.")
    return stored


async def photo_bytes(deps: VerificationDeps, sha256: str) -> bytes:
    data = await deps.photo_store.get(sha256)
    if data is None:
        raise DomainError("photo_not_found", f"Photo {sha256} is recorded but its file is missing.")
    return data

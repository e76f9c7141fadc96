"""Field evidence that is kept: photos uploaded content-addressed, checked by hash and by their own
bytes' type, their EXIF position and time compared with the visit's claims, served back to the
proposal's verifiers; the S3 store against a real S3-compatible server (moto's, as a process)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary import Role
from dtks_runtime.testing import Infra, wait_until
from dtks_synthetic import proposals
from dtks_verification.adapters.photo_store import FilesystemPhotoStore, PhotoStore, s3_store
from dtks_verification.domain.photo_evidence import (
    EvidencePolicy,
    distance_km,
    photo_findings,
    read_metadata,
    sniff_type,
)
from dtks_verification.harness import POPULATION, Service, running_service
from dtks_verification.testing import TopicReader, envelope, free_port, submitted

# Kota Bengkulu, where the test population lives; the visit claims this position.
VISIT_LAT, VISIT_LON = -3.8, 102.3
_draws = iter(range(20_000, 30_000))


def jpeg(*, gps: tuple[float, float] | None = None, taken: str | None = None, colour: str = "red") -> bytes:
    """A small JPEG with the EXIF a phone writes: GPS position (degrees) and the time it was taken."""
    exif = Image.Exif()
    if taken:
        exif[0x0132] = taken
    if gps:
        lat, lon = gps
        exif[0x8825] = {
            1: "S" if lat < 0 else "N",
            2: (float(int(abs(lat))), round(abs(lat) % 1 * 60, 6), 0.0),
            3: "W" if lon < 0 else "E",
            4: (float(int(abs(lon))), round(abs(lon) % 1 * 60, 6), 0.0),
        }
    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "JPEG", exif=exif)
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_photo_types_are_known_by_their_bytes_not_their_name() -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    assert sniff_type(jpeg()) == "image/jpeg"
    assert sniff_type(png.getvalue()) == "image/png"
    assert sniff_type(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "image/heic"
    assert sniff_type(b"GIF89a....") is None
    assert sniff_type(b"<html>not a photo</html>") is None


def test_exif_position_and_time_are_read_and_compared_with_the_visit() -> None:
    meta = read_metadata(jpeg(gps=(-3.9, 102.3), taken="2026:03:01 09:30:00"))
    assert meta.latitude == pytest.approx(-3.9) and meta.longitude == pytest.approx(102.3)
    assert meta.taken_at == dt.datetime(2026, 3, 1, 9, 30)
    assert 11 < distance_km(VISIT_LAT, VISIT_LON, -3.9, 102.3) < 11.2
    findings = photo_findings("a" * 64, meta, dt.date(2026, 5, 2), VISIT_LAT, VISIT_LON, EvidencePolicy())
    assert {f["code"] for f in findings} == {"photo_far_from_visit", "photo_taken_apart_from_visit"}
    near = read_metadata(jpeg(gps=(-3.8005, 102.3), taken="2026:05:02 08:00:00"))
    assert photo_findings("a" * 64, near, dt.date(2026, 5, 2), VISIT_LAT, VISIT_LON, EvidencePolicy()) == []
    assert read_metadata(b"not an image") == read_metadata(jpeg())  # no EXIF: nothing known


@pytest.fixture
async def evidence_service(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str, civil_registry: Any, tmp_path: Path
) -> AsyncIterator[Service]:
    async with running_service(
        kafka_bootstrap,
        infra,
        topic_prefix,
        civil_registry.url,
        evidence_dir=str(tmp_path / "evidence"),
        evidence_max_photo_bytes=64 * 1024,
    ) as service:
        yield service


def district(village: str) -> tuple[Role, str]:
    return Role.DISTRICT_VERIFIER, village[:8]


async def open_proposal(service: Service) -> Any:
    content = submitted(proposals(POPULATION, 1, seed=next(_draws))[0].body)
    await service.publish([envelope(content)])
    await service.wait_status(content.proposal_id, "in_tier")
    return content


async def upload(service: Service, data: bytes, name: str | None = None, **headers: str) -> httpx.Response:
    return await service.http.put(
        f"/evidence/{name or sha(data)}",
        content=data,
        headers={**service.auth(Role.DISTRICT_VERIFIER, "17.71.01"), **headers},
    )


@pytest.mark.infra
async def test_a_photo_whose_bytes_do_not_match_its_hash_is_refused(evidence_service: Service) -> None:
    photo = jpeg()
    response = await upload(evidence_service, photo, name=sha(photo + b"tampered"))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "photo_hash_mismatch" and problem["received_sha256"] == sha(photo)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert not await evidence_service.app.state.deps.photo_store.exists(sha(photo))  # type: ignore[union-attr]


@pytest.mark.infra
async def test_a_file_that_is_not_jpeg_png_or_heic_is_refused_whatever_its_declared_type(
    evidence_service: Service,
) -> None:
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    response = await upload(evidence_service, gif, **{"Content-Type": "image/jpeg"})
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "photo_type_not_allowed"
    too_big = jpeg() + b"\x00" * (64 * 1024)
    response = await upload(evidence_service, too_big)
    assert response.status_code == 413, response.text
    ok = await upload(evidence_service, jpeg())
    assert ok.status_code == 201 and ok.json()["content_type"] == "image/jpeg", ok.text


@pytest.mark.infra
async def test_a_photo_taken_far_from_the_visit_is_flagged_for_the_verifier_and_served_to_them(
    evidence_service: Service,
) -> None:
    service = evidence_service
    content = await open_proposal(service)
    far = jpeg(gps=(-3.95, 102.3), taken="2026:05:02 09:00:00")  # some 17 km south, the visit's day
    near = jpeg(gps=(-3.8001, 102.3001), taken="2026:05:02 09:05:00", colour="blue")
    for photo in (far, near):
        response = await upload(service, photo)
        assert response.status_code == 201, response.text
    uploaded = (await upload(service, far)).json()
    assert uploaded["created"] is False and uploaded["latitude"] == pytest.approx(-3.95)
    missing = "c" * 64
    visit = {
        "officer": "Budi",
        "visit_date": "2026-05-02",
        "latitude": VISIT_LAT,
        "longitude": VISIT_LON,
        "photos": [
            {"subject": "roof", "sha256": sha(far), "location": "evidence"},
            {"subject": "floor", "sha256": sha(near), "location": "evidence"},
            {"subject": "walls", "sha256": missing, "location": "evidence"},
        ],
    }
    headers = service.auth(*district(content.village_code))
    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:
        response = await service.http.post(
            f"/proposals/{content.proposal_id}/field-visits", json=visit, headers=headers
        )
        assert response.status_code == 201, response.text
        flagged = {(f["code"], f["sha256"]) for f in response.json()["findings"]}
        assert flagged == {("photo_far_from_visit", sha(far)), ("photo_not_uploaded", missing)}

        async def visit_published() -> bool:
            await topic.poll()
            return bool(topic.of(content.proposal_id, "verification.field_visit_recorded"))

        await wait_until(visit_published, 30, "the field visit on Kafka")
        event = topic.of(content.proposal_id, "verification.field_visit_recorded")[0]
        # The register's event keeps the photos' hashes, never their bytes.
        assert [p["sha256"] for p in event.payload["photos"]] == [sha(far), sha(near), missing]
    record = await service.http.get(f"/proposals/{content.proposal_id}/verification", headers=headers)
    [kept] = record.json()["visits"]
    assert {f["code"] for f in kept["findings"]} == {"photo_far_from_visit", "photo_not_uploaded"}
    photo = await service.http.get(f"/proposals/{content.proposal_id}/photos/{sha(far)}", headers=headers)
    assert photo.status_code == 200 and photo.content == far
    assert photo.headers["content-type"] == "image/jpeg"
    auditor = service.auth(Role.AUDITOR, "ID")
    assert (
        await service.http.get(f"/proposals/{content.proposal_id}/photos/{sha(near)}", headers=auditor)
    ).content == near
    village = service.auth(Role.VILLAGE_OPERATOR, content.village_code)
    refused = await service.http.get(f"/proposals/{content.proposal_id}/photos/{sha(far)}", headers=village)
    assert refused.status_code == 403, refused.text
    elsewhere = service.auth(Role.DISTRICT_VERIFIER, "17.71.09")
    if content.village_code[:8] != "17.71.09":
        hidden = await service.http.get(
            f"/proposals/{content.proposal_id}/photos/{sha(far)}", headers=elsewhere
        )
        assert hidden.status_code == 404, hidden.text
    unnamed = await service.http.get(f"/proposals/{content.proposal_id}/photos/{missing}", headers=headers)
    assert unnamed.status_code == 404 and unnamed.json()["code"] == "photo_not_found"


@pytest.mark.infra
async def test_a_visits_photo_is_served_at_its_hash_to_the_officers_of_its_village_and_the_ministry(
    evidence_service: Service,
) -> None:
    service = evidence_service
    content = await open_proposal(service)
    photo, unnamed = jpeg(colour="green"), jpeg(colour="yellow")
    for data in (photo, unnamed):
        assert (await upload(service, data)).status_code == 201
    visit = {"officer": "Budi", "visit_date": "2026-05-02", "latitude": VISIT_LAT, "longitude": VISIT_LON,
             "photos": [{"subject": "roof", "sha256": sha(photo), "location": "evidence"}]}  # fmt: skip
    headers = service.auth(*district(content.village_code))
    response = await service.http.post(
        f"/proposals/{content.proposal_id}/field-visits", json=visit, headers=headers
    )
    assert response.status_code == 201, response.text
    # The record names each photo with the URL its bytes are served at.
    record = await service.http.get(f"/proposals/{content.proposal_id}/verification", headers=headers)
    [kept] = record.json()["visits"]
    assert kept["photos"][0]["url"] == f"/evidence/{sha(photo)}"
    for reader in (headers, service.auth(Role.MINISTRY_VERIFIER, "ID"), service.auth(Role.AUDITOR, "ID")):
        served = await service.http.get(kept["photos"][0]["url"], headers=reader)
        assert served.status_code == 200 and served.content == photo, served.text
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["etag"] == f'"{sha(photo)}"'
        assert "max-age=31536000" in served.headers["cache-control"]
    again = await service.http.get(
        f"/evidence/{sha(photo)}", headers={**headers, "If-None-Match": f'"{sha(photo)}"'}
    )
    assert again.status_code == 304 and again.content == b""
    # Another district's officer, and any reader of a photo no visit names, find nothing there.
    other = "17.71.09" if content.village_code[:8] != "17.71.09" else "17.71.08"
    hidden = await service.http.get(
        f"/evidence/{sha(photo)}", headers=service.auth(Role.DISTRICT_VERIFIER, other)
    )
    assert hidden.status_code == 404 and hidden.json()["code"] == "photo_not_found", hidden.text
    for name in (sha(unnamed), "d" * 64):
        unknown = await service.http.get(
            f"/evidence/{name}", headers=service.auth(Role.MINISTRY_VERIFIER, "ID")
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "photo_not_found", unknown.text
    village = await service.http.get(
        f"/evidence/{sha(photo)}", headers=service.auth(Role.VILLAGE_OPERATOR, content.village_code)
    )
    assert village.status_code == 403 and village.json()["code"] == "role_not_allowed"


@contextlib.contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's S3-compatible HTTP server as its own process on a free port (ended by its pid)."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_s3_store_keeps_and_returns_photos_on_a_real_s3_compatible_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_s3_server() as url:

        async def answering() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    await http.get(url)
                return True
            except httpx.TransportError:
                return False

        await wait_until(answering, 30, "the S3-compatible server")
        bucket = f"evidence-{uuid.uuid4().hex[:8]}"
        store: PhotoStore = s3_store(url, bucket, "us-east-1")
        await asyncio.to_thread(store.client.create_bucket, Bucket=bucket)  # type: ignore[attr-defined]
        await round_trip(store)


async def test_the_filesystem_store_keeps_and_returns_photos(tmp_path: Path) -> None:
    await round_trip(FilesystemPhotoStore(tmp_path))


async def test_a_photos_write_does_not_queue_behind_the_services_other_thread_work(tmp_path: Path) -> None:
    """The default pool (cpu + 4 threads) busy with other work, as 50 officers' uploads kept it with
    their fsyncs: a photo is still written at once, in the photos' own threads."""
    busy = [asyncio.to_thread(time.sleep, 1.5) for _ in range(40)]
    waiting = asyncio.gather(*busy)
    await asyncio.sleep(0.05)
    store = FilesystemPhotoStore(tmp_path)
    photo = jpeg(colour="white")
    started = time.perf_counter()
    await store.put(sha(photo), photo, "image/jpeg")
    assert await store.get(sha(photo)) == photo
    took = time.perf_counter() - started
    await waiting
    assert took < 1.0, f"the photo waited {took:.2f} s behind the default pool"


async def round_trip(store: PhotoStore) -> None:
    photo = jpeg(gps=(VISIT_LAT, VISIT_LON))
    key = sha(photo)
    assert not await store.exists(key) and await store.get(key) is None
    await store.put(key, photo, "image/jpeg")
    assert await store.exists(key)
    assert await store.get(key) == photo
    await store.put(key, photo, "image/jpeg")  # the same bytes again: still one photo, unchanged
    assert await store.get(key) == photo

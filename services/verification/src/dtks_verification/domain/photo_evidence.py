"""What a field photo's own bytes say: its type (by magic bytes, never the declared content type),
and where and when its camera says it was taken (EXIF), compared with the visit's claims. Pure."""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image

JPEG, PNG, HEIC = "image/jpeg", "image/png", "image/heic"
# The ISO base media brands of HEIF/HEIC still images (ftyp box at offset 4).
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_DATETIME, _DATETIME_ORIGINAL = 0x0132, 0x9003


def sniff_type(data: bytes) -> str | None:
    """The photo's media type from its first bytes, or None if it is none of JPEG, PNG, HEIC."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return HEIC
    return None


@dataclass(frozen=True)
class PhotoMetadata:
    taken_at: dt.datetime | None = None  # camera local time as written (EXIF has no zone)
    latitude: float | None = None
    longitude: float | None = None


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    return -degrees if str(ref).upper().startswith(("S", "W")) else degrees


def load_readers() -> None:
    """Pillow imports its format plug-ins on the first photo it opens (all of them for one it does
    not know, a HEIC say): a few hundred milliseconds that the first uploads after a start all
    waited on, under the import lock. Called at startup."""
    Image.init()


def read_metadata(data: bytes) -> PhotoMetadata:
    """GPS position and time from the photo's EXIF where present. HEIC is not decoded here (Pillow
    needs a plug-in for it), so its metadata is absent; a photo without EXIF gives an empty one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
    except Exception:
        return PhotoMetadata()
    taken_at = None
    raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if isinstance(raw, str):
        try:
            taken_at = dt.datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            taken_at = None
    gps = exif.get_ifd(_GPS_IFD)
    lat = _degrees(gps.get(2), gps.get(1)) if 2 in gps else None
    lon = _degrees(gps.get(4), gps.get(3)) if 4 in gps else None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    return PhotoMetadata(taken_at, lat, lon)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class EvidencePolicy:
    max_distance_km: float = 1.0
    max_age_days: int = 30


def photo_findings(
    sha256: str,
    metadata: PhotoMetadata | None,
    visit_date: dt.date,
    latitude: float,
    longitude: float,
    policy: EvidencePolicy,
) -> list[dict[str, Any]]:
    """What the verifier should look at for one of a visit's photos (never a refusal): not uploaded,
    taken far from the visit's position, or taken long before (or after) the visit date."""
    if metadata is None:
        return [{"code": "photo_not_uploaded", "sha256": sha256,
                 "detail": "The visit names this photo but it was not uploaded; upload it with PUT /evidence/{sha256}."}]  # fmt: skip
    findings: list[dict[str, Any]] = []
    if metadata.latitude is not None and metadata.longitude is not None:
        km = distance_km(latitude, longitude, metadata.latitude, metadata.longitude)
        if km > policy.max_distance_km:
            findings.append({"code": "photo_far_from_visit", "sha256": sha256, "distance_km": round(km, 3),
                             "detail": f"The photo was taken {km:.1f} km from the visit's position."})  # fmt: skip
    if metadata.taken_at is not None:
        days = (visit_date - metadata.taken_at.date()).days
        if days > policy.max_age_days or days < -1:
            findings.append({"code": "photo_taken_apart_from_visit", "sha256": sha256, "days_before_visit": days,
                             "detail": f"The photo was taken {days} days before the visit date."})  # fmt: skip
    return findings

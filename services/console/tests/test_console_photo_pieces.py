"""The pure parts of a visit's photo in the console: the hash checked before the service is asked, the
browser's copy recognised by its ETag, a stranger sent to sign in, and every text of the photos and of
the round visit on a proposal's record page in the catalogue of both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dtks_console.app import build_app
from dtks_console.i18n import translations
from dtks_console.photo_pages import already_held, photo_hash
from dtks_console.settings import ConsoleSettings

LOCALE = Path(__file__).resolve().parents[1] / "src" / "dtks_console" / "locale"
PHOTOS_PO = {lang: LOCALE / lang / "LC_MESSAGES" / "photos.po" for lang in ("id", "en")}
SHA = "ab" * 32


def test_only_a_well_formed_sha256_names_a_photo() -> None:
    assert photo_hash(SHA) == SHA
    assert photo_hash(SHA.upper()) == SHA
    assert photo_hash(SHA[:-1]) is None
    assert photo_hash("../" + SHA[3:]) is None
    assert photo_hash("zz" * 32) is None


def test_the_browsers_copy_is_recognised_by_its_etag_weak_or_strong() -> None:
    assert already_held(f'"{SHA}"', SHA)
    assert already_held(f'W/"{SHA}", "other"', SHA)
    assert not already_held('"' + "cd" * 32 + '"', SHA)
    assert not already_held(None, SHA)


def test_every_message_of_the_photos_catalogue_is_in_both_languages_and_read_in_indonesian() -> None:
    ids = {lang: re.findall(r'^msgid "(.+)"$', po.read_text(), re.M) for lang, po in PHOTOS_PO.items()}
    assert ids["id"] == ids["en"] and len(ids["id"]) >= 10
    for message in ids["id"]:
        assert translations("id").gettext(message) not in ("", message), message
        assert translations("en").gettext(message) != ""


def test_the_photo_of_a_visit_far_from_its_position_is_said_in_indonesian() -> None:
    far = translations("id").gettext("The photo was taken %(km)s km from the visit's position.")
    assert far % {"km": "12.3"} == "Foto diambil 12.3 km dari posisi kunjungan."


@pytest.fixture
def console() -> Iterator[TestClient]:
    settings = ConsoleSettings(oidc_issuer="http://127.0.0.1:9/realms/dtks")
    with TestClient(build_app(settings)) as client:
        yield client


def test_a_photo_sends_a_stranger_to_sign_in(console: TestClient) -> None:
    answer = console.get(f"/photos/{SHA}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next=/photos/{SHA}"

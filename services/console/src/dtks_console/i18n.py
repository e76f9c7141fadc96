"""One message catalogue: Bahasa Indonesia by default, English selectable. The .po files are the
source; they are compiled in memory when the console starts, so there is no build step to forget.
A language's catalogue is its messages.po with every other .po beside it merged in (one file per
area of pages, e.g. village.po, so pages added side by side do not edit the same file)."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}
DEFAULT_LANGUAGE = "id"


@cache
def translations(language: str) -> gettext.NullTranslations:
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po = folder / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    for extra in sorted(folder.glob("*.po")):
        if extra != po:
            with extra.open("rb") as source:
                for message in read_po(source, locale=language):
                    if message.id:
                        catalog[message.id] = message
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def language_of(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE

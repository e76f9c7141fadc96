"""When two spellings of a person's name are "the same name" for the civil-registry check.

Names in Indonesia reach the register through hand-written forms, village laptops and decades of
spelling reforms, so an exact comparison would return good proposals for nothing. The rule:

1. Normalise: strip accents, upper-case, turn punctuation (``.``, ``'``, ``-``, ``,``) into spaces,
   collapse runs of whitespace. ``"  siti  nur'aini "`` -> ``"SITI NUR AINI"``.
2. Map the pre-1972 (Van Ophuijsen / Soewandi) spellings to the current one (EYD), per word:
   ``DJ->J``, ``TJ->C``, ``NJ->NY``, ``SJ->SY``, ``OE->U``, ``CH->KH``. ``"DJOKO"`` = ``"JOKO"``,
   ``"TJAHJONO"`` = ``"CAHJONO"``, ``"SOEKARNO"`` = ``"SUKARNO"``, ``"ACHMAD"`` = ``"AKHMAD"``.
   The old ``J`` for the new ``Y`` is deliberately NOT mapped: ``J`` is also the new spelling of
   ``DJ``, so mapping it would make ``"JOKO"`` and ``"DJOKO"`` differ again; step 4 absorbs it.
3. Collapse doubled letters (``MUHAMMAD`` = ``MUHAMAD``) and drop the spaces (``NURHAYATI`` =
   ``NUR HAYATI``).
4. Allow a small edit distance on what remains: 1 edit for keys up to 10 letters, 2 above.

Anything further apart (another first name, a missing word) is a NAME_MISMATCH.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

# Old spelling -> current spelling, applied in this order (longest, least ambiguous first).
OLD_TO_NEW_SPELLING: Final[tuple[tuple[str, str], ...]] = (
    ("DJ", "J"),
    ("TJ", "C"),
    ("NJ", "NY"),
    ("SJ", "SY"),
    ("OE", "U"),
    ("CH", "KH"),
)

_NOT_LETTER = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r"\s+")
_DOUBLED = re.compile(r"([A-Z])\1+")


def normalise(name: str) -> str:
    """Step 1: accents, case, punctuation and spacing."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return _SPACES.sub(" ", _NOT_LETTER.sub(" ", ascii_only)).strip()


@functools.lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    """Steps 1-3: the comparison key of a name (also used to find possible duplicate people).

    Cached: a check compares each name several times (civil registry, namesakes, identical
    members), and the key is a pure function of the name."""
    words = []
    for word in normalise(name).split(" "):
        for old, new in OLD_TO_NEW_SPELLING:
            word = word.replace(old, new)
        words.append(_DOUBLED.sub(r"\1", word))
    return "".join(words)


def allowed_edits(key_length: int) -> int:
    return 1 if key_length <= 10 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it exceeds ``limit`` (returns limit + 1 then)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def names_agree(proposed: str, civil_registry: str) -> bool:
    """Step 4: the same name under the rule in the module docstring."""
    a, b = name_key(proposed), name_key(civil_registry)
    if a == b:
        return True
    limit = allowed_edits(max(len(a), len(b)))
    return edit_distance(a, b, limit) <= limit

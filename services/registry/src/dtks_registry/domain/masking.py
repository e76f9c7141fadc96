"""Names as the citizens' check shows them: enough to recognise oneself, too little to harvest."""

from __future__ import annotations

import unicodedata


def normalize_name(name: str) -> str:
    """Compare names as written on the identity card: case, accents' forms and spacing do not matter."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(folded.split())


def mask_name(name: str) -> str:
    """'Siti Aminah' -> 'S*** A*****': first letter of each word, the rest starred."""
    words = normalize_name(name).split(" ")
    return " ".join(w[0].upper() + "*" * (len(w) - 1) for w in words if w)

"""A bounded memo of parsed proposal contents, by a digest of their stored JSON text."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

from dtks_contracts.events.proposal import ProposalContent, ProposalResubmitted, ProposalSubmitted
from dtks_contracts.historical import HISTORICAL_READ


class ParsedContents:
    """Contents parsed lately, by a digest of their stored JSON text: a bounded memo of `parse_content`.

    Parsing a proposal (a household of validated NIKs, regions, dates) is the largest single cost
    of reading one back. Intake checks the content it parsed from the event and never reads it
    back; the worker (after an outage) and the Ministry's acceptances do, and this spares repeated
    reads of one proposal a parse each (records parse their content only when it is used). Intake
    no longer primes it: that cost a jsonb-to-text conversion per stored row and kept thousands of
    households alive for the collector to traverse, for reads that mostly come much later. The key
    is the exact stored text, and the models are frozen, so a hit is the very object a parse gives.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, ProposalContent] = OrderedDict()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    def get(self, text: str) -> ProposalContent | None:
        key = self._key(text)
        content = self._items.get(key)
        if content is not None:
            self._items.move_to_end(key)
        return content

    def put(self, text: str, content: ProposalContent) -> None:
        key = self._key(text)
        self._items[key] = content
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


# Process-wide: a parse depends on the text only, so services sharing a process may share it.
PARSED = ParsedContents(10_000)


def _content_class(round_: int) -> type[ProposalContent]:
    return ProposalSubmitted if round_ == 1 else ProposalResubmitted


def parse_content(text: str) -> ProposalContent:
    content = PARSED.get(text)
    if content is None:
        data = json.loads(text)
        content = _content_class(data["round"]).model_validate(
            data, extra="ignore", context=dict(HISTORICAL_READ)
        )
        PARSED.put(text, content)
    return content

"""The language of status reason messages: the request's ``locale`` (ISO 639-3), English or Indonesian."""

from __future__ import annotations

ENGLISH, INDONESIAN = "eng", "ind"

# Indonesian for each reason code; the English message is the detailed one the code raised.
_IND = {
    "rjct.reference_id.duplicate": "reference_id ini sudah dipakai dalam pesan yang sama.",
    "rjct.timestamp.invalid": "Waktu permintaan tidak sah.",
    "rjct.search_criteria.invalid": "Kriteria pencarian tidak dapat dijawab; cari dengan NIK, KK, wilayah, desil, program atau status.",
    "rjct.filter.invalid": "Syarat pencarian tidak sah atau di luar wilayah/program yang diberikan kepada instansi Anda.",
    "rjct.sort.invalid": "Urutan tidak didukung.",
    "rjct.pagination.invalid": "Halaman di luar hasil pencarian atau ukuran halaman tidak sah.",
    "rjct.search.too_many_records_found": "Terlalu banyak data cocok; persempit pencarian (wilayah, desil, program).",
    "rjct.notify_types.invalid": "Jenis peristiwa langganan tidak didukung.",
    "rjct.notify_details.invalid": "Rincian langganan tidak sah.",
    "rjct.subscription_code.invalid": "Kode langganan tidak dikenal.",
    "rjct.event.already_unsubscribed": "Langganan ini sudah dihentikan.",
}


def chosen(locale: str | None) -> str:
    return INDONESIAN if locale == INDONESIAN else ENGLISH


def message(reason_code: str, english: str, locale: str | None) -> str:
    if chosen(locale) == INDONESIAN:
        return _IND.get(reason_code, english)
    return english

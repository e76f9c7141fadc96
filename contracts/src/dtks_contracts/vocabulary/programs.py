"""Social assistance programs that select their beneficiaries from the register."""

from __future__ import annotations

from enum import StrEnum


class Program(StrEnum):
    """A program a household receives or is proposed for.

    PKH: Program Keluarga Harapan, conditional cash transfer for families with pregnant women,
    young children, school children, elderly or disabled members (Ministry of Social Affairs).
    BPNT: Bantuan Pangan Non-Tunai / Sembako, non-cash food aid on an electronic card.
    PBI_JK: Penerima Bantuan Iuran Jaminan Kesehatan, national health insurance premiums paid by
    the state (read by the Ministry of Health / BPJS Kesehatan).
    PIP: Program Indonesia Pintar, cash aid for school children (Ministry of Education).
    BLT: Bantuan Langsung Tunai, direct unconditional cash aid (e.g. from village funds).
    ELECTRICITY_SUBSIDY: subsidised PLN tariff for 450/900 VA connections (Ministry of Energy).
    """

    PKH = "PKH"
    BPNT = "BPNT"
    PBI_JK = "PBI_JK"
    PIP = "PIP"
    BLT = "BLT"
    ELECTRICITY_SUBSIDY = "ELECTRICITY_SUBSIDY"

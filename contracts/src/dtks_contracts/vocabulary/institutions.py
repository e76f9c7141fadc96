"""Words of the social welfare institutions (LKS, *Lembaga Kesejahteraan Sosial*)."""

from __future__ import annotations

from enum import StrEnum


class ServiceType(StrEnum):
    """Whom an institution cares for (the Directorate General of Social Rehabilitation's clusters)."""

    CHILDREN = "children"  # orphanages and children's homes (LKSA)
    ELDERLY = "elderly"
    DISABILITY = "disability"
    SOCIAL_DISABILITY = "social_disability"  # homeless people, beggars, former prisoners
    TRAFFICKING_VICTIMS = "trafficking_victims"
    DRUG_REHABILITATION = "drug_rehabilitation"
    OTHER = "other"


class LegalForm(StrEnum):
    """The legal entity behind an institution: registered with the Ministry of Law (AHU)."""

    FOUNDATION = "foundation"  # yayasan
    ASSOCIATION = "association"  # perkumpulan


class AccreditationGrade(StrEnum):
    """The accreditation board's grade (A very good, B good, C adequate)."""

    A = "A"
    B = "B"
    C = "C"


class ClosureReason(StrEnum):
    DISSOLVED = "dissolved"  # the foundation or association was dissolved
    LICENCE_REVOKED = "licence_revoked"  # by the regency's social service
    MERGED = "merged"  # into another registered institution
    NOT_FOUND = "not_found"  # not found at the address by the field visit


class AssistanceProgram(StrEnum):
    """The Directorate General of Social Rehabilitation's assistance to institutions."""

    ATENSI = "ATENSI"  # Asistensi Rehabilitasi Sosial: per person cared for, or for the institution
    PERMAKANAN = "PERMAKANAN"  # meals for elderly and disabled residents
    YAPI = "YAPI"  # orphans' support (Yatim Piatu) through children's homes


class AssistanceBasis(StrEnum):
    """What an assistance is counted by."""

    PER_RESIDENT = "per_resident"  # for each named resident
    PER_INSTITUTION = "per_institution"  # for the institution as a whole

"""Who did something: the authenticated subject, in a role, scoped to a region."""

from __future__ import annotations

from pydantic import Field, model_validator

from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import RegionCode, listed_region_level, region_level
from dtks_contracts.text import Name, SafeStr
from dtks_contracts.vocabulary.roles import ROLE_REGION_LEVEL, Role


class Actor(ContractModel):
    """A person or system acting in a role; the region is the scope the role is granted for."""

    subject: SafeStr = Field(min_length=1, max_length=200, description="Stable id of the user or client")
    role: Role
    region: RegionCode
    # Added after the first events were written: optional, so events without it still read; left out
    # of the JSON when unknown (system events, development tokens without --name), so those events'
    # bytes are what they were before the field existed.
    name: Name | None = Field(
        default=None,
        exclude_if=lambda name: name is None,
        description="The person's name as the identity provider knows them (e.g. 'Sari Wulandari'), "
        "so the audit history shows who acted; absent when unknown",
    )

    @model_validator(mode="after")
    def _region_fits_role(self) -> Actor:
        # A village operator scoped to a whole regency, or a ministry role scoped to one province,
        # would silently widen or narrow who may act: reject the combination outright.
        expected = ROLE_REGION_LEVEL[self.role]
        # The region is already validated: a listed code's level is one look-up away.
        actual = listed_region_level(self.region) or region_level(self.region)
        if expected is not None and actual != expected:
            raise ValueError(
                f"role {self.role} acts on a {expected} region, got {actual} region {self.region}"
            )
        return self

"""Who is acting, in which role, over which region (see the roles in the domain glossary)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dtks_contracts.actor import Actor
from dtks_contracts.regions import contains, region_level
from dtks_contracts.vocabulary.roles import ROLE_REGION_LEVEL, Role


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    region: str
    # Programs an agency was granted (empty: all); other roles ignore it.
    programs: tuple[str, ...] = field(default_factory=tuple)
    # The person's name as the identity provider knows them, for the audit history; None if unknown.
    name: str | None = None
    # The one institution (LKS) an institution operator acts for: the token's `institution` claim.
    # Other roles carry none.
    institution_id: str | None = None

    def covers(self, region_code: str) -> bool:
        """True if ``region_code`` lies inside this principal's region scope."""
        return contains(self.region, region_code)

    def as_actor(self) -> Actor:
        """The principal as recorded in the events it causes."""
        return Actor(subject=self.subject, role=self.role, region=self.region, name=self.name)


def check_scope(role: Role, region: str) -> None:
    """Refuse a role/region pair that cannot exist (a village operator scoped to a province, say)."""
    level = region_level(region)  # raises ValueError for an unknown code
    wanted = ROLE_REGION_LEVEL[role]
    if wanted is not None and level != wanted:
        raise ValueError(f"role {role.value} must be scoped to a {wanted} region, not the {level} {region}")


def check_institution_scope(role: Role, institution_id: str | None) -> None:
    """An institution operator acts for exactly one institution; no other role is scoped to one."""
    if role is Role.INSTITUTION_OPERATOR and not institution_id:
        raise ValueError("role institution_operator needs the institution it acts for (claim 'institution')")
    if role is not Role.INSTITUTION_OPERATOR and institution_id:
        raise ValueError(f"role {role.value} is not scoped to an institution")

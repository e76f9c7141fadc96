"""Deterministic synthetic population, register and proposals (with controlled faults).

pop = generate_population("17.71", people=500, seed=1)
pop.civil_registry_records()            # iterator of CivilRegistryRecord, for the simulator
register_households(pop)                # iterator of registered Household models
proposals(pop, 20, {Fault.NAME_MISMATCH: 2})   # list of GeneratedProposal
member_rows(households)                 # iterator of flat dicts, one per member
"""

from dtks_synthetic.faults import Fault
from dtks_synthetic.households import family_household, household_id_of
from dtks_synthetic.population import (
    CivilRegistryRecord,
    Family,
    Person,
    Population,
    generate_population,
    villages_of,
)
from dtks_synthetic.proposals import (
    GeneratedProposal,
    corrections,
    deactivations,
    iter_new_household_bodies,
    proposals,
)
from dtks_synthetic.register import register_households
from dtks_synthetic.rows import MEMBER_ROW_COLUMNS, member_rows

__all__ = [
    "MEMBER_ROW_COLUMNS",
    "CivilRegistryRecord",
    "Family",
    "Fault",
    "GeneratedProposal",
    "Person",
    "Population",
    "corrections",
    "deactivations",
    "family_household",
    "generate_population",
    "household_id_of",
    "iter_new_household_bodies",
    "member_rows",
    "proposals",
    "register_households",
    "villages_of",
]

"""The households already in the register before the demo or test starts: the poorest share."""

from __future__ import annotations

from collections.abc import Iterator

from dtks_contracts.household import Household
from dtks_synthetic.households import family_household
from dtks_synthetic.population import Population


def register_households(population: Population, share: float | None = None) -> Iterator[Household]:
    """The registered households (the poorest `share` of families; default the population's
    `register_share`, 0.4), lazily and in generation order, each with its household id, programs
    received and welfare decile. Members who died since registration are still listed, as the
    register really is until a correction arrives; families who moved keep their old village."""
    limit = population.register_share if share is None else share
    for family in population.families():
        if family.in_register(limit):
            yield family_household(family, registered=True)

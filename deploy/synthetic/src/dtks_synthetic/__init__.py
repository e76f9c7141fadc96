"""Deterministic synthetic population, register and proposals."""

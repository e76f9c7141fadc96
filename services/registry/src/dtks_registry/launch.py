"""The ``dtks-registry`` command, apart from the app it serves.

The audit replay's workers are processes the service spawns (multiprocessing's spawn method), and
spawn runs the parent's main script again in each of them: the console script, which imports its
entry point's module. With the entry point in :mod:`dtks_registry.main`, every worker imported
FastAPI and every route before replaying anything (some 2 s of CPU each with bytecode, 4 s without;
a verification starts four). From here a worker imports this module only, and then what its job
needs (the projection)."""

from __future__ import annotations


def run() -> None:
    from dtks_registry.main import run as serve

    serve()

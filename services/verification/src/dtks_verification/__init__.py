"""The verification service.

Its shape: `domain/` holds the pure rules (integrity standard, names, the tier workflow) and raises
`Refusal`, a domain error with a stable code; one module per use case takes the service's
`deps.VerificationDeps` and writes through its unit of work: `checks` (the integrity standard run
and recorded), `intake` (the entry checks of the rounds a batch of events starts), `decisions`,
`ratification`, `visits`, with `standing` recording what any of them decided; `checks_worker` runs
the checks that waited for the civil registry. `adapters/` has one module per table (or purpose) and
the civil-registry client; `consumer` reads the other services' events; `api` is the HTTP edge with
the table from refusal codes to statuses; `main` wires it all.
"""

"""The pure core of verification: integrity rules, name matching and the tier workflow (no I/O)."""

"""The registry service: the authoritative register (DTKS), its quarterly determination, queries and audit replay."""

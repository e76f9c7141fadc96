"""Adapters: the service's tables in PostgreSQL, one module each (all SQL lives here), and the
civil-registry (Dukcapil) HTTP client."""

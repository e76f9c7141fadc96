"""PostgreSQL tables and queries of the proposal service (its own database)."""

"""The simulator's PostgreSQL table."""

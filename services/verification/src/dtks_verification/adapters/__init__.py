"""Adapters: PostgreSQL read models and the civil-registry (Dukcapil) HTTP client."""

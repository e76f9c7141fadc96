"""PostgreSQL read models and Kafka adapters of the registry."""

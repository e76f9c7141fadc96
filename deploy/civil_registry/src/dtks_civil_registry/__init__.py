"""Civil-registry (Dukcapil) simulator."""

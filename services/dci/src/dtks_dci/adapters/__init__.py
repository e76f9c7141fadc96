"""I/O: the registry's HTTP API, this service's tables, callbacks to agencies."""

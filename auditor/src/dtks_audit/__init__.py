"""dtks-audit: every decree of the DTKS register checked from the event log alone."""

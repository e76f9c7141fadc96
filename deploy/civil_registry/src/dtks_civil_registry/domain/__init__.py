"""The simulator's pure parts: the people it answers with and the outage switch."""

"""Complaints service: citizens complain, the village acts, the district sees what waits too long."""

"""I/O of the notification service: its PostgreSQL tables and the channels it sends through."""

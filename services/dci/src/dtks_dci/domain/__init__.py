"""The standard's rules and shapes, pure: no I/O, no HTTP."""

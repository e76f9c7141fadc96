"""The pure core of the proposal service: what a submission must say, how its status moves, when a
window admits it, and how a bulk file becomes households. No I/O here."""

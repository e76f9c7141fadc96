"""The proposal service."""

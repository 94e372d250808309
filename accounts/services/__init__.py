"""Writes owned by accounts/, split by use case."""

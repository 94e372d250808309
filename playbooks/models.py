"""Plays and stored play matches (DESIGN.md)."""

"""Accounts, product users, events, rollups, deals and ingestion (DESIGN.md)."""

"""Post-deal feedback, monthly reports and outbound webhooks (DESIGN.md)."""

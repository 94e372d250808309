"""Writes of feedback.outbound, split by use case: the handoff (RouteChange → outbox),
delivery (send, retry, resend), endpoints, the CRM sync and the periodic tick."""

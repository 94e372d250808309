"""Rule sets, signals, scores, routing and the queue item life cycle (DESIGN.md)."""

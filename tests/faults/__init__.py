"""Fault runs: the deployed stack on a private PostgreSQL and Redis, one fault injected, what
every citizen received counted at a fake Meta."""

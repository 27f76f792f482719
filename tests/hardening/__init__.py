"""Hardening tests (issue 6): hostile input, faults, concurrency, secrets."""

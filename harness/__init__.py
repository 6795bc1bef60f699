"""Harness code that tests and evals share: local servers, the stress runner."""

"""Failure notification: digests, mail rendering and sending."""

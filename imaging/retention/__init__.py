"""Retention rules, legal holds and erasure with crypto-shredding (issue 10)."""

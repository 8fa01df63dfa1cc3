"""Consents."""

"""Envelope encryption (docs: /work/shared/DESIGN.md, "Keys and storage").

master key (providers) wraps tenant keys (keys, versioned) wrap one data key per study, which
encrypts blobs in authenticated segments (segments).
"""

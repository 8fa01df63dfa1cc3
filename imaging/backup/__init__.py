"""Backup and restore of the database and the manifest of stored objects (docs/backup.md)."""

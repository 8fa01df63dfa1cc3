"""Version 1 of each agreement, published from portal/agreements/texts/*.md by migration 0002, and
published again after a `flush` (which empties every table and then sends post_migrate, as Django's
test cases do between transactional tests) so that a clinic always has something to accept.

Later versions are published in Django admin, never by editing these files once a clinic has accepted
them: an accepted text is evidence of what was signed."""

import hashlib
from pathlib import Path

from django.apps import apps as global_apps

TEXTS = Path(__file__).resolve().parent / "texts"
FIRST_VERSIONS = [
    ("baa", "Business Associate Agreement", "baa.md"),
    ("dpa", "Data Processing Agreement", "dpa.md"),
    ("terms", "Terms of Service", "terms.md"),
]


def publish_first_versions(text_model) -> None:
    """Publish version 1 of each kind that has none. `text_model` is AgreementText, or its historical
    model in a migration (which has no save() of its own: the hash is computed here as the model does)."""
    for kind, title, file_name in FIRST_VERSIONS:
        body = (TEXTS / file_name).read_text(encoding="utf-8")
        text_model.objects.get_or_create(
            kind=kind,
            version=1,
            defaults={"title": title, "body": body, "sha256": hashlib.sha256(body.encode()).hexdigest()},
        )


def publish_after_flush(sender, apps=global_apps, **kwargs) -> None:
    """post_migrate: publish the first versions when no text at all is published. `migrate` passes
    the migration state's apps; `flush` passes none."""
    try:
        text_model = apps.get_model("agreements", "AgreementText")
    except LookupError:
        return  # the app's tables are not there (migrated back to zero)
    if not text_model.objects.exists():
        publish_first_versions(text_model)

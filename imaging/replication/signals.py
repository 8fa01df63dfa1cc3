"""A tenant that gains a replica region gets a copy there of everything it already holds."""

from django.db import transaction
from django.db.models.signals import post_save, pre_save

from portal.models import Tenant

_GAINED = "_palisade_gained_replica_regions"


def _note_gained_regions(sender, instance: Tenant, **kwargs) -> None:
    before = Tenant.objects.filter(pk=instance.pk).values_list("replica_regions", flat=True).first() or []
    setattr(instance, _GAINED, sorted(set(instance.replica_regions) - set(before)))


def _copy_to_gained_regions(sender, instance: Tenant, created: bool, **kwargs) -> None:
    if not getattr(instance, _GAINED, None):
        return
    from imaging.replication.tasks import copy_to_new_replica_regions

    # A new tenant holds nothing yet: there is nothing to copy.
    if not created:
        transaction.on_commit(lambda: copy_to_new_replica_regions.delay(instance.pk))


def connect_signals() -> None:
    pre_save.connect(_note_gained_regions, sender=Tenant, dispatch_uid="replication-note-regions")
    post_save.connect(_copy_to_gained_regions, sender=Tenant, dispatch_uid="replication-gained-regions")

from django.apps import AppConfig


class ReplicationConfig(AppConfig):
    name = "imaging.replication"
    label = "replication"
    verbose_name = "Replication and scrub"

    def ready(self) -> None:
        from imaging.replication.signals import connect_signals

        connect_signals()

from django.apps import AppConfig


class DownloadsConfig(AppConfig):
    name = "imaging.downloads"
    label = "downloads"
    verbose_name = "Downloads"

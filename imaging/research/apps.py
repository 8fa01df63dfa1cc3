from django.apps import AppConfig


class ResearchConfig(AppConfig):
    name = "imaging.research"
    label = "research"
    verbose_name = "Research projects"

from django.apps import AppConfig


class RelmanConfig(AppConfig):
    name = "relman"
    verbose_name = "Relman"

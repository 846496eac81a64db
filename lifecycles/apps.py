from django.apps import AppConfig


class LifecyclesConfig(AppConfig):
    name = "lifecycles"
    verbose_name = "Environments and lifecycles"

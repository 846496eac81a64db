from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases and deployments"

    def ready(self) -> None:
        # Registers the tasks by name: the engine publishes them by name (relman.queue).
        from releases import tasks  # noqa: F401

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class VariablesConfig(AppConfig):
    name = "variables"
    verbose_name = "Variables"

    def ready(self):
        checks.register(_development_key_check)


def _development_key_check(app_configs, **kwargs):
    if not settings.RELMAN_ENCRYPTION_KEY_DERIVED:
        return []
    return [
        checks.Warning(
            "RELMAN_ENCRYPTION_KEY is not set: sensitive variable values are encrypted with a "
            "development key derived from the secret key.",
            hint="Set RELMAN_ENCRYPTION_KEY (README: Variables and sensitive values) before storing real secrets.",
            id="variables.W001",
        )
    ]

from django.db import models


class StepKind(models.TextChoices):
    MANUAL = "manual", "Manual intervention"
    SCRIPT = "script", "Script"


class RunCondition(models.TextChoices):
    SUCCESS = "success", "Only if nothing before failed"
    FAILURE = "failure", "Only if something before failed"
    ALWAYS = "always", "Always"


DEFAULT_PROJECT_GROUP = "Default Project Group"
DEFAULT_SCRIPT_TIMEOUT_SECONDS = 600

# The automation ladder (SPEC §11): a manual step, a manual step with a helper script, a
# script step that runs by itself.
AUTOMATION_LEVEL_MANUAL = 1
AUTOMATION_LEVEL_HELPER = 2
AUTOMATION_LEVEL_SCRIPT = 3


class OnTimeout(models.TextChoices):
    ABORT = "abort", "Abort"
    PROCEED = "proceed", "Proceed"


# A manual step waits for a person at most this long before its timeout answers for them.
MAX_TIMEOUT_MINUTES = 30 * 24 * 60


AUTOMATION_LEVELS = {
    AUTOMATION_LEVEL_MANUAL: "Manual step",
    AUTOMATION_LEVEL_HELPER: "Manual step with a helper script",
    AUTOMATION_LEVEL_SCRIPT: "Script step, runs by itself",
}


def automation_level(kind: str, script: str) -> int:
    """Where a step stands on the ladder, derived: 3 a script step that runs by itself, 2 a
    manual step with a helper script, 1 a manual step."""
    if kind == StepKind.SCRIPT:
        return AUTOMATION_LEVEL_SCRIPT
    return AUTOMATION_LEVEL_HELPER if script.strip() else AUTOMATION_LEVEL_MANUAL

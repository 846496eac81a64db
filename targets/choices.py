"""A target's status, derived from when its agent was last seen (never stored)."""

from django.db import models


class TargetStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


# The agent token's first part names it, so a token pasted in the wrong place is told apart
# from an API key (``rm_``) at a glance and by the authentication classes.
AGENT_TOKEN_SCHEME = "rmt"
AGENT_TOKEN_PREFIX_LENGTH = 8

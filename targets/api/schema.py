"""How the OpenAPI schema describes the agents' authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AgentTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "targets.authentication.AgentTokenAuthentication"
    name = "agentToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A target's agent token: `Authorization: Bearer rmt_…` (shown once when the "
            "target is created or its token rotated). Only the agent endpoints take it.",
        }

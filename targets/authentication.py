from rest_framework import authentication, exceptions

from targets import services


class AgentTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <agent token>``, for the agent endpoints alone: the request's
    user is the target. An API key is refused here, as an agent token is everywhere else."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not token.strip():
            raise exceptions.NotAuthenticated(
                "The agent endpoints need 'Authorization: Bearer <agent token>'."
            )
        target = services.target_authenticate(token=token.strip())
        if target is None:
            raise exceptions.AuthenticationFailed(
                "The agent token is unknown or was rotated; give the agent the target's current token."
            )
        return (target, token)

    def authenticate_header(self, request) -> str:
        return self.keyword

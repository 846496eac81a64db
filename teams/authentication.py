from rest_framework import authentication, exceptions

from teams import services


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <api key>``."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The Authorization header has no API key after 'Bearer'.")
        user = services.api_key_authenticate(key=key)
        if user is None:
            raise exceptions.AuthenticationFailed(
                "The API key is unknown, revoked, expired, or its user is disabled."
            )
        return (user, key)

    def authenticate_header(self, request) -> str:
        return self.keyword

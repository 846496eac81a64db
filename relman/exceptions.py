"""Domain errors raised by services. The API maps them to HTTP statuses
(relman.api.exception_handler); pages show their message."""


class DomainError(Exception):
    """A refusal with a message a person can act on."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class PermissionRefused(DomainError):
    status_code = 403
    code = "permission_denied"


class Conflict(DomainError):
    """The object is not in a state that allows this (already taken, already finished,
    not allowed by the lifecycle yet)."""

    status_code = 409
    code = "conflict"

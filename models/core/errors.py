"""Domain errors. Handlers map them to the error envelope of CONTRACT.md.

No Tornado imports here: actions raise these and Celery tasks may catch them.
"""
from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 400
    message = "Bad request"

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None,
                 **extra: Any) -> None:
        self.message = message or self.message
        self.errors = errors or {}
        # Extra top-level keys some endpoints document (e.g. ``valid_periods``).
        self.extra = extra
        super().__init__(self.message)


class ValidationFailed(AppError):
    status = 400
    message = "Validation error"

    @classmethod
    def field(cls, name: str, text: str) -> "ValidationFailed":
        return cls(errors={name: [text]})


class Unauthorized(AppError):
    status = 401
    message = "Authentication credentials were not provided."


class Forbidden(AppError):
    status = 403
    message = "You do not have permission to perform this action."


class NotFound(AppError):
    status = 404
    message = "Not found."


class Conflict(AppError):
    status = 409
    message = "Conflict"


class RateLimited(AppError):
    status = 429
    message = "Request was throttled."

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Request was throttled. Expected available in {retry_after} seconds.")
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status = 503
    message = "Service temporarily unavailable"

"""One application error type and one DRF exception handler: every API error is
``{"code": ..., "message": ..., "extra": {...}}`` with a stable ``code`` the UI switches on."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """An expected failure with a message a user can act on.

    ``status_code`` is the HTTP status a view answers with; ``code`` is a stable string.
    """

    status_code = 400
    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class NotFoundError(ApplicationError):
    status_code = 404
    default_code = "not_found"


class ValidationFailed(ApplicationError):
    status_code = 400
    default_code = "validation_failed"


class AuthenticationError(ApplicationError):
    status_code = 401
    default_code = "authentication_failed"


class ForbiddenError(ApplicationError):
    status_code = 403
    default_code = "forbidden"


class ConflictError(ApplicationError):
    status_code = 409
    default_code = "conflict"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    default_code = "service_unavailable"


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ValidationError: "validation_failed",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render ApplicationError and DRF's own errors in the one shape."""
    if isinstance(exc, ApplicationError):
        response = Response(exc.as_dict(), status=exc.status_code)
        if exc.status_code == 401:
            response["WWW-Authenticate"] = 'JWT realm="deskbridge"'
        return response
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        errors = [{"code": "invalid", "field": name, "message": str(msg)} for name, msg in _flatten(fields)]
        message = errors[0]["message"] if len(errors) == 1 else "The request has invalid fields; see extra.errors."
        if len(errors) == 1 and errors[0]["field"] != "non_field_errors":
            message = f"{errors[0]['field']}: {errors[0]['message']}"
        extra: dict[str, Any] = {"fields": fields, "errors": errors}
    else:
        message = str(getattr(exc, "detail", exc))
        extra = {}
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait)
    response.data = {"code": code, "message": message, "extra": extra}
    return response


def _flatten(detail: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested DRF error detail → (dotted field, message) pairs."""
    if isinstance(detail, dict):
        return [
            pair
            for key, value in detail.items()
            for pair in _flatten(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
        ]
    if isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            return [(prefix or "non_field_errors", v) for v in detail]
        return [pair for i, v in enumerate(detail) for pair in _flatten(v, f"{prefix}[{i}]")]
    return [(prefix or "non_field_errors", detail)]

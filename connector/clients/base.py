"""Shared HTTP client: timeouts on every call, one hook for authentication, and a closed set of typed
errors. Nothing above a client sees a ``requests`` exception or a raw status code."""

from __future__ import annotations

import abc
import json
import logging
import re
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from django.conf import settings

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of every typed client error. ``status`` is the HTTP status where there was one."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None, body: Any = None, service: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.service = service


class ApiBadRequest(ApiError):
    """400 / 422: the service refused what we sent."""


class RecordClosed(ApiBadRequest):
    """The helpdesk refuses every change of the record for good (a closed Zendesk ticket)."""


class ApiUnauthorized(ApiError):
    """401: credentials missing, wrong or revoked."""


class ApiForbidden(ApiError):
    """403: authenticated, not allowed."""


class ApiNotFound(ApiError):
    """404."""


class ApiConflict(ApiError):
    """409."""


class ApiRateLimited(ApiError):
    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ApiServerError(ApiError):
    """5xx."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ApiTimeout(ApiError):
    transient = True


class ApiConnectionError(ApiError):
    """DNS failure, refused connection, TLS failure: the service could not be reached."""

    transient = True


class ApiUnexpectedResponse(ApiError):
    """An answer we cannot interpret (not JSON where JSON was promised, unexpected status)."""


class DownloadRefused(ApiError):
    """A download (or one of its redirects) led to a host that is not allowed, or redirected too often."""


class DownloadTooLarge(ApiError):
    """A download is larger than the limit (said by Content-Length, or found while reading)."""


_NUMERIC_ID = re.compile(r"[0-9]{1,20}")


def is_numeric_id(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and "١٢", which ``int()`` rejects or reads
    differently."""
    return bool(_NUMERIC_ID.fullmatch(str(value)))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    data: Any
    content: bytes


def _new_session() -> requests.Session:
    """A session. Without a proxy in the environment (HTTPS_PROXY, …) it stops re-reading os.environ on every
    request (a measurable share of a sync run's CPU); with one, requests applies it and NO_PROXY as usual."""
    session = requests.Session()
    if not any(k in urllib.request.getproxies() for k in ("http", "https", "all")):
        session.trust_env = False  # no proxy configured: nothing in the environment changes a request
    return session


class BaseClient(abc.ABC):
    """Subclasses set ``service`` and implement ``base_url()`` and ``authenticate()``.

    URL paths are class constants on the subclass; public methods are one-liners over ``request()``.
    """

    service = "api"
    session: requests.Session | None = None
    download_hosts_setting = "HELPDESK_DOWNLOAD_ALLOWED_HOSTS"  # named when a download host is refused

    def __init__(self, *, session: requests.Session | None = None):
        self.session = session or _new_session()
        self.calls = 0  # API calls spent through this client (sync runs report it)

    # hooks ------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def base_url(self) -> str:
        """The service's base URL for this connection (no trailing slash)."""

    @abc.abstractmethod
    def authenticate(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        """Add authentication to ``headers`` for this exact request."""

    def timeout(self) -> tuple[float, float]:
        return (settings.HTTP_CONNECT_TIMEOUT_SECONDS, settings.HTTP_READ_TIMEOUT_SECONDS)

    def error_message(self, status: int, data: Any, text: str) -> str:
        return f"{self.service} answered HTTP {status}"

    def classify(self, status: int, data: Any) -> type[ApiError] | None:
        """Hook for a service-specific error class (e.g. Zendesk's closed-ticket 422)."""
        return None

    # transport --------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
        allow_redirects: bool = False,
        expect_json: bool = True,
    ) -> Response:
        method = method.upper()
        query = urlencode(params, doseq=True) if params else ""
        url = self.base_url().rstrip("/") + path + (f"?{query}" if query else "")
        all_headers = {"Accept": "application/json", "User-Agent": "Deskbridge/0.1"}
        all_headers.update(headers or {})
        self.authenticate(method, path, query, all_headers)
        self.calls += 1
        raw = self.send(
            lambda: self.session.request(
                method,
                url,
                json=json_body,
                data=data,
                files=files,
                headers=all_headers,
                timeout=self.timeout(),
                allow_redirects=allow_redirects,
            )
        )
        return self._handle(raw, expect_json=expect_json)

    def send(self, call, *, who: str | None = None) -> requests.Response:
        """Run one ``requests`` call; a timeout or a failed connection becomes the typed error."""
        who = who or self.service
        try:
            return call()
        except requests.Timeout as exc:
            raise ApiTimeout(f"{who} did not answer in time", service=self.service) from exc
        except requests.RequestException as exc:
            raise ApiConnectionError(
                f"{who} could not be reached ({type(exc).__name__})", service=self.service
            ) from exc

    def download(self, url: str, sink, *, max_bytes: int, allowed_hosts: list[str]) -> int:
        """Stream ``url`` into ``sink`` (a file), following redirects by hand: every hop must be on an allowed
        host (or this service's own), and credentials go only to this service's own scheme, host and port.
        Returns the bytes written; raises DownloadTooLarge past ``max_bytes`` (nothing more is read)."""
        from .files import CHUNK_BYTES, MAX_REDIRECTS, host_allowed

        own = urlsplit(self.base_url())
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            is_own = (parts.scheme, parts.netloc) == (own.scheme, own.netloc)
            if parts.scheme not in ("https", "http") or not (
                is_own or host_allowed(parts.hostname, parts.port, allowed_hosts)
            ):
                raise DownloadRefused(
                    f"The file is served from {parts.hostname or 'an unknown host'}, which is not an allowed "
                    f"download host ({self.download_hosts_setting})",
                    service=self.service,
                )
            headers = {"User-Agent": "Deskbridge/0.1"}
            if is_own:
                self.authenticate("GET", parts.path, parts.query, headers)
                self.calls += 1
            raw = self.send(
                lambda url=url, headers=headers: self.session.get(
                    url, headers=headers, timeout=self.timeout(), allow_redirects=False, stream=True
                )
            )
            with raw:
                if raw.status_code in (301, 302, 303, 307, 308) and raw.headers.get("Location"):
                    url = urljoin(url, raw.headers["Location"])
                    continue
                if raw.status_code >= 300:
                    self._handle(raw, expect_json=False)  # raises the typed error for >= 400
                    raise ApiUnexpectedResponse(
                        f"{self.service} answered HTTP {raw.status_code} to a download", service=self.service
                    )
                declared = raw.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise DownloadTooLarge(f"The file is {declared} bytes", service=self.service)
                total = 0
                for chunk in raw.iter_content(CHUNK_BYTES):
                    total += len(chunk)
                    if total > max_bytes:
                        raise DownloadTooLarge(f"The file is over {max_bytes} bytes", service=self.service)
                    sink.write(chunk)
                return total
        raise DownloadRefused("The download redirected too many times", service=self.service)

    def _handle(self, raw: requests.Response, *, expect_json: bool) -> Response:
        status = raw.status_code
        text = raw.text if raw.content else ""
        content_type = raw.headers.get("Content-Type", "")
        data: Any = None
        if raw.content and (expect_json or status >= 400):
            try:
                data = raw.json()
            except (ValueError, json.JSONDecodeError):
                data = None
                if status < 300 and expect_json and "json" in content_type:
                    raise ApiUnexpectedResponse(
                        f"{self.service} returned a body that is not JSON",
                        status=status,
                        service=self.service,
                    ) from None
        headers = dict(raw.headers)
        if status < 400:
            return Response(status, headers, data, raw.content)
        message = self.error_message(status, data, text)
        kwargs = {"status": status, "body": data if data is not None else text[:500], "service": self.service}
        special = self.classify(status, data)
        if special is not None:
            raise special(message, **kwargs)
        retry_after = parse_retry_after(raw.headers.get("Retry-After"))
        if status == 429:
            raise ApiRateLimited(message, retry_after=retry_after, **kwargs)
        if status >= 500:
            raise ApiServerError(message, retry_after=retry_after, **kwargs)
        error_class = {
            400: ApiBadRequest,
            401: ApiUnauthorized,
            403: ApiForbidden,
            404: ApiNotFound,
            409: ApiConflict,
            422: ApiBadRequest,
        }.get(status, ApiUnexpectedResponse)
        raise error_class(message, **kwargs)

"""Atlassian Connect JWTs: verifying what Jira sends us, signing what we send Jira.

Facts (shared/docs/api-facts.md, and developer.atlassian.com "Understanding JWT for Connect apps"):
- qsh = sha256 hex of ``METHOD&path&query`` canonicalised; ``atlassian_jwt.url_utils`` is the reference
  implementation and the one we call, so our hash can never drift from Atlassian's.
- Install/uninstall callbacks are RS256-signed with a key served at ``{install keys url}/{kid}``;
  ``aud`` is our base URL and ``iss`` the site's clientKey.
- Everything else is HS256 with the tenant's shared secret. Context tokens (``AP.context.getToken()``)
  carry ``qsh == "context-qsh"`` and are accepted only where a view says so.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import jwt as pyjwt
import requests
from atlassian_jwt.url_utils import hash_url
from django.conf import settings
from django.core.cache import cache
from django.utils.encoding import escape_uri_path

from .errors import InstallKeysUnavailable, JwtBadRequest, JwtRejected

logger = logging.getLogger(__name__)

CONTEXT_QSH = "context-qsh"
_KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_INSTALL_KEY_CACHE_SECONDS = 24 * 3600
# A kid Atlassian answers 404 for is remembered this long, so a flood of installs naming the same bogus kid
# costs Atlassian one request a minute; short, so a key Atlassian has just published is picked up soon.
_INSTALL_KEY_MISS_CACHE_SECONDS = 60
_INSTALL_KEY_MISS = "missing"  # cached in place of a PEM for a kid Atlassian does not publish


# --- qsh -------------------------------------------------------------------------------------------


def query_string_hash(method: str, relative_url: str) -> str:
    """qsh of a request. ``relative_url`` is path?query relative to the product/app base URL."""
    return hash_url(method, relative_url)


def relative_to_base(path: str, base_url: str) -> str:
    """Strip the base URL's own path (a context path such as ``/wiki``) from ``path``."""
    base_path = urlsplit(base_url).path.rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :]
    return path or "/"


def request_relative_urls(request) -> list[str]:
    """Candidate spellings of an inbound request's path?query, relative to our APP_BASE_URL.

    The WSGI server hands Django a percent-decoded path, so the exact bytes Jira signed are known only
    when the server passes the raw URI (gunicorn ``RAW_URI``, uWSGI ``REQUEST_URI``). Otherwise we try
    the two standard re-encodings. Every candidate decodes to the same path, so accepting any of them
    does not let a token cover a different request.
    """
    query = request.META.get("QUERY_STRING", "")
    paths: list[str] = []
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        paths.append(urlsplit(raw).path)
    paths.append(escape_uri_path(request.path))
    paths.append(quote(request.path, safe="/"))
    candidates: list[str] = []
    for path in paths:
        relative = relative_to_base(path, settings.APP_BASE_URL)
        url = f"{relative}?{query}" if query else relative
        if url not in candidates:
            candidates.append(url)
    return candidates


def request_relative_url(request) -> str:
    """The preferred spelling of an inbound request's path?query (see ``request_relative_urls``)."""
    return request_relative_urls(request)[0]


# --- outbound ---------------------------------------------------------------------------------------


def encode_outbound(*, shared_secret: str, method: str, relative_url: str, now: float | None = None) -> str:
    """A fresh HS256 token for one call to Jira: iss = our app key, qsh of that exact request."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": settings.ATLASSIAN_APP_KEY,
        "iat": issued,
        "exp": issued + settings.ATLASSIAN_OUTBOUND_JWT_TTL_SECONDS,
        "qsh": query_string_hash(method, relative_url),
    }
    return pyjwt.encode(claims, shared_secret, algorithm="HS256")


# --- inbound: extraction ----------------------------------------------------------------------------


def extract_token(request) -> str:
    """The JWT of a request, from ``?jwt=`` or ``Authorization: JWT …`` — never both."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    header_token = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.upper() == "JWT" and value.strip():
            header_token = value.strip()
    query_token = request.GET.get("jwt")
    if header_token and query_token:
        raise JwtBadRequest(
            "The request carries a JWT both in the query string and in the Authorization header; send exactly one.",
            code="jwt_ambiguous",
        )
    token = header_token or query_token
    if not token:
        raise JwtRejected("No Atlassian JWT on this request. Open this page from inside Jira.", code="jwt_missing")
    return token


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError as exc:
        raise JwtRejected("The JWT is malformed and cannot be read.", code="jwt_malformed") from exc
    if not isinstance(claims, dict):
        raise JwtRejected("The JWT payload is not a JSON object.", code="jwt_malformed")
    return header, claims


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, unverified: only to pick the site an error page may be framed by."""
    issuer = _unverified(token)[1].get("iss")
    return issuer if isinstance(issuer, str) else None


def _pin_algorithm(header: dict[str, Any], expected: str) -> None:
    alg = header.get("alg")
    if alg != expected:
        raise JwtRejected(
            f"This endpoint accepts only {expected}-signed JWTs; this one is signed with {alg!r}.",
            code="jwt_algorithm",
        )


def _decode(token: str, key: Any, algorithm: str, *, audience: str | None = None) -> dict[str, Any]:
    options = {"require": ["iss", "exp", "qsh"], "verify_aud": audience is not None}
    try:
        return pyjwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            leeway=settings.ATLASSIAN_JWT_LEEWAY_SECONDS,
            options=options,
        )
    except pyjwt.ExpiredSignatureError as exc:
        raise JwtRejected("The JWT has expired. Reload the page in Jira.", code="jwt_expired") from exc
    except pyjwt.ImmatureSignatureError as exc:
        raise JwtRejected("The JWT is not valid yet (check clocks).", code="jwt_not_yet_valid") from exc
    except pyjwt.InvalidAudienceError as exc:
        raise JwtRejected(
            f"The JWT audience does not name this app ({settings.APP_BASE_URL}).", code="jwt_audience"
        ) from exc
    except pyjwt.MissingRequiredClaimError as exc:
        raise JwtRejected(f"The JWT lacks the required claim {exc.claim!r}.", code="jwt_malformed") from exc
    except pyjwt.InvalidSignatureError as exc:
        raise JwtRejected("The JWT signature does not verify.", code="jwt_signature") from exc
    except pyjwt.PyJWTError as exc:
        raise JwtRejected(f"The JWT is invalid: {exc}.", code="jwt_invalid") from exc


def _check_qsh(claims: dict[str, Any], request, *, allow_context: bool) -> bool:
    """Verify qsh; returns True when the token is a context token."""
    qsh = claims.get("qsh")
    if qsh == CONTEXT_QSH:
        if not allow_context:
            raise JwtRejected(
                "A context token (qsh=context-qsh) is not accepted here; this endpoint needs a request-bound JWT.",
                code="jwt_context_not_allowed",
            )
        return True
    expected = {query_string_hash(request.method, url) for url in request_relative_urls(request)}
    if qsh not in expected:
        raise JwtRejected(
            "The JWT query-string hash (qsh) does not match this request's method, path and query.",
            code="jwt_qsh_mismatch",
        )
    return False


# --- inbound: HS256 tokens of an installed site ------------------------------------------------------


@dataclass(frozen=True)
class VerifiedToken:
    client_key: str
    account_id: str | None
    claims: dict[str, Any]
    is_context: bool


def verify_tenant_token(request, *, secret_for_issuer, allow_context: bool) -> VerifiedToken:
    """Verify an HS256 token signed with the issuing site's shared secret.

    ``secret_for_issuer(client_key) -> str | None`` looks the secret up (None = unknown site).
    """
    token = extract_token(request)
    header, unverified = _unverified(token)
    _pin_algorithm(header, "HS256")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise JwtRejected("The JWT has no issuer (iss).", code="jwt_malformed")
    secret = secret_for_issuer(issuer)
    if secret is None:
        raise JwtRejected(
            "This Jira site is not installed (unknown JWT issuer). Reinstall the app from Jira.",
            code="jwt_unknown_issuer",
        )
    claims = _decode(token, secret, "HS256")
    is_context = _check_qsh(claims, request, allow_context=allow_context)
    sub = claims.get("sub")
    return VerifiedToken(issuer, sub if isinstance(sub, str) else None, claims, is_context)


# --- inbound: RS256 signed install / uninstall ------------------------------------------------------


def _unknown_kid(kid: str) -> JwtRejected:
    return JwtRejected(
        f"The install JWT names key id {kid!r}, which Atlassian does not publish.",
        code="jwt_unknown_kid",
    )


def _install_public_key(kid: str) -> str:
    """The PEM Atlassian publishes for ``kid``. Keys are cached for a day, unknown kids (404) for a minute;
    an outage or an unexpected answer is never cached, so Jira's retry asks again."""
    cache_key = f"atlassian-install-key:{kid}"
    cached = cache.get(cache_key)
    if cached == _INSTALL_KEY_MISS:
        raise _unknown_kid(kid)
    if cached:
        return cached
    url = f"{settings.ATLASSIAN_INSTALL_KEYS_URL}/{kid}"
    try:
        # Never follow a redirect: the key that authenticates installs must come from the configured service
        # itself, not from whichever host an answer points at.
        response = requests.get(url, timeout=settings.INSTALL_KEYS_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        logger.warning("install keys service unreachable: %s", type(exc).__name__)
        raise InstallKeysUnavailable(
            "The Atlassian install-keys service could not be reached; the install was not changed. "
            "Jira retries the callback; if it keeps failing, check outbound access to "
            f"{settings.ATLASSIAN_INSTALL_KEYS_URL}."
        ) from exc
    if 300 <= response.status_code < 400:
        # Not a verdict on the token (the kid may be genuine), so not a 401 and not cached as a miss: a 503
        # that Jira retries once an operator has fixed ATLASSIAN_INSTALL_KEYS_URL or the network path.
        logger.warning(
            "install keys service answered HTTP %s redirecting to %r; not followed",
            response.status_code,
            response.headers.get("Location"),
        )
        raise InstallKeysUnavailable(
            f"The Atlassian install-keys service answered HTTP {response.status_code} with a redirect, which is "
            "never followed for signing keys; the install was not changed. Set ATLASSIAN_INSTALL_KEYS_URL to the "
            "service's exact https address (currently "
            f"{settings.ATLASSIAN_INSTALL_KEYS_URL}); Jira retries the callback.",
            code="install_keys_redirected",
        )
    if response.status_code == 404:
        cache.set(cache_key, _INSTALL_KEY_MISS, _INSTALL_KEY_MISS_CACHE_SECONDS)
        raise _unknown_kid(kid)
    if response.status_code != 200:
        raise InstallKeysUnavailable(
            f"The Atlassian install-keys service answered HTTP {response.status_code}; the install was not "
            "changed and Jira will retry."
        )
    pem = response.text
    try:
        pyjwt.algorithms.RSAAlgorithm(pyjwt.algorithms.RSAAlgorithm.SHA256).prepare_key(pem)
    except Exception as exc:
        raise InstallKeysUnavailable(
            "The Atlassian install-keys service returned something that is not an RSA public key."
        ) from exc
    cache.set(cache_key, pem, _INSTALL_KEY_CACHE_SECONDS)
    return pem


def verify_install_token(request) -> dict[str, Any]:
    """Verify a signed-install JWT (RS256, key by kid, aud = our base URL, qsh). Returns claims.

    The caller must still check ``claims['iss']`` against the body's clientKey (the body is not signed).
    """
    token = extract_token(request)
    header, _ = _unverified(token)
    _pin_algorithm(header, "RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID_RE.match(kid):
        raise JwtRejected("The install JWT has no usable key id (kid).", code="jwt_unknown_kid")
    claims = _decode(token, _install_public_key(kid), "RS256", audience=settings.APP_BASE_URL)
    _check_qsh(claims, request, allow_context=False)
    return claims

"""A stateful fake Jira Cloud site, served on loopback.

It plays both sides of Atlassian Connect:
- as the product our app calls: verifies our outbound JWT on every request (HS256 with the site's
  shared secret, ``iss`` = our app key, ``exp``, ``qsh`` of the request exactly as received) and answers
  like Jira Cloud REST v3 (``shared/docs/api-facts.md``): error bodies ``{"errorMessages", "errors"}``,
  204 on edits, 429 with ``Retry-After``;
- as the product that calls our app: builds the install payload, signs the RS256 install JWT with its own
  key pair (served by ``FakeInstallKeys`` by ``kid``), and signs iframe (qsh-bound) and context tokens.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from typing import Any

import jwt as pyjwt
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .server import FakeRequest, FakeServer, route

_SITE_KEY: rsa.RSAPrivateKey | None = None


def _site_key() -> rsa.RSAPrivateKey:
    """One RSA key per test process (generation is slow); each fake site still has its own kid."""
    global _SITE_KEY
    if _SITE_KEY is None:
        _SITE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _SITE_KEY


def _error(status: int, *messages: str, errors: dict[str, str] | None = None):
    return status, {"errorMessages": list(messages), "errors": errors or {}}


class FakeInstallKeys(FakeServer):
    """Atlassian's install-keys service: ``GET /{kid}`` → PEM public key (404 for an unknown kid)."""

    name = "fake-install-keys"

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}
        self.down = False

    def add_key(self, kid: str, public_pem: str) -> None:
        self.keys[kid] = public_pem

    @route("GET", r"/(?P<kid>[^/]+)")
    def get_key(self, request: FakeRequest):
        if self.down:
            return 503, "Service Unavailable"
        pem = self.keys.get(request.params["kid"])
        if pem is None:
            return 404, "Not Found"
        return 200, pem, {"Content-Type": "application/x-pem-file"}


class FakeJira(FakeServer):
    name = "fake-jira"

    def __init__(self, *, app_key: str, install_keys: FakeInstallKeys | None = None) -> None:
        super().__init__()
        self.app_key = app_key
        self.client_key = f"jira:{uuid.uuid4()}"
        self.shared_secret = secrets.token_urlsafe(32)
        self.cloud_id = str(uuid.uuid4())
        self.install_keys = install_keys
        self._private_key = _site_key()
        self.kid = f"kid-{uuid.uuid4().hex[:12]}"
        if install_keys is not None:
            install_keys.add_key(self.kid, self.public_pem)
        self.app_account_id = "557058:deskbridge-app-user"
        self.admins: set[str] = set()
        self.license: dict[str, Any] | None = {"active": True, "type": "commercial", "evaluation": False}
        self.issues: dict[str, dict[str, Any]] = {}
        self.properties: dict[tuple[str, str], Any] = {}
        self._ids = itertools.count(10000)
        self.rejected_auth: list[str] = []

    # --- Jira's signing side --------------------------------------------------------------------------
    @property
    def public_pem(self) -> str:
        return (
            self._private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def install_payload(self, **overrides: Any) -> dict[str, Any]:
        payload = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "sharedSecret": self.shared_secret,
            "baseUrl": self.url,
            "displayUrl": self.url,
            "productType": "jira",
            "description": "Fake Jira Cloud site",
            "eventType": "installed",
            "serverVersion": "100275",
            "pluginsVersion": "1001.0.0-SNAPSHOT",
            "oauthClientId": "fake-oauth-client",
            "cloudId": self.cloud_id,
        }
        payload.update(overrides)
        return payload

    def sign_install(
        self, method: str, relative_url: str, *, aud: str, iss: str | None = None, exp_in: int = 180, **extra
    ) -> str:
        """RS256 install/uninstall token as Jira signs it (kid header, aud = app base URL)."""
        now = int(time.time())
        claims = {
            "iss": iss or self.client_key,
            "aud": aud,
            "iat": now,
            "exp": now + exp_in,
            "qsh": hash_url(method, relative_url),
            **extra,
        }
        return pyjwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid})

    def sign(
        self,
        method: str,
        relative_url: str,
        *,
        account_id: str | None = "5b10ac8d82e05b22cc7d4ef5",
        secret: str | None = None,
        exp_in: int = 180,
        qsh: str | None = None,
        iss: str | None = None,
    ) -> str:
        """HS256 token with a qsh bound to ``method`` + ``relative_url`` (iframe loads, callbacks)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": iss or self.client_key,
            "iat": now,
            "exp": now + exp_in,
            "qsh": qsh if qsh is not None else hash_url(method, relative_url),
        }
        if account_id:
            claims["sub"] = account_id
        return pyjwt.encode(claims, secret or self.shared_secret, algorithm="HS256")

    def context_token(self, *, account_id: str = "5b10ac8d82e05b22cc7d4ef5", exp_in: int = 900) -> str:
        """What ``AP.context.getToken()`` returns in the iframe: qsh = "context-qsh"."""
        return self.sign("GET", "/", account_id=account_id, exp_in=exp_in, qsh="context-qsh")

    # --- the product side: verify our outbound JWT on every call --------------------------------------
    def before(self, request: FakeRequest):
        header = request.headers.get("authorization", "")
        if not header.startswith("JWT "):
            self.rejected_auth.append("missing")
            return _error(401, "Client must be authenticated to access this resource.")
        token = header[4:]
        try:
            claims = pyjwt.decode(
                token, self.shared_secret, algorithms=["HS256"], options={"require": ["exp", "iss", "qsh"]}
            )
        except pyjwt.PyJWTError as exc:
            self.rejected_auth.append(type(exc).__name__)
            return _error(401, f"JWT rejected: {type(exc).__name__}")
        if claims.get("iss") != self.app_key:
            self.rejected_auth.append("iss")
            return _error(401, "JWT issuer is not an installed app.")
        if claims.get("qsh") != hash_url(request.method, request.raw_path):
            self.rejected_auth.append("qsh")
            return _error(401, "JWT qsh does not match the request.")
        is_upload = request.method in ("POST", "PUT") and request.path.endswith("/attachments")
        if is_upload and request.headers.get("x-atlassian-token") != "no-check":
            return _error(403, "XSRF check failed")
        return None

    # --- REST endpoints -------------------------------------------------------------------------------
    @route("GET", r"/rest/api/3/myself")
    def myself(self, request: FakeRequest):
        return 200, {
            "accountId": self.app_account_id,
            "accountType": "app",
            "displayName": "Deskbridge",
            "active": True,
        }

    @route("GET", r"/rest/api/3/serverInfo")
    def server_info(self, request: FakeRequest):
        return 200, {"baseUrl": self.url, "deploymentType": "Cloud", "serverTitle": "Jira"}

    @route("GET", r"/rest/atlassian-connect/1/addons/(?P<key>[^/]+)")
    def addon(self, request: FakeRequest):
        if request.params["key"] != self.app_key:
            return _error(404, "App not found")
        body: dict[str, Any] = {"key": self.app_key, "status": "installed", "version": "1.0.0"}
        if self.license is not None:
            body["license"] = self.license
        return 200, body

    @route("POST", r"/rest/api/3/permissions/check")
    def permissions_check(self, request: FakeRequest):
        body = request.json() or {}
        account = body.get("accountId")
        wanted = body.get("globalPermissions") or []
        granted = [p for p in wanted if p == "ADMINISTER" and account in self.admins]
        return 200, {"globalPermissions": granted, "projectPermissions": []}

    def add_issue(
        self, *, key: str, project: str | None = None, summary: str = "An issue", **fields: Any
    ) -> dict[str, Any]:
        issue_id = str(next(self._ids))
        issue = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {"summary": summary, "project": {"key": project or key.split("-")[0]}, **fields},
        }
        self.issues[issue_id] = issue
        return issue

    def _find_issue(self, ref: str) -> dict[str, Any] | None:
        return self.issues.get(ref) or next((i for i in self.issues.values() if i["key"] == ref), None)

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        return 200, issue

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_edit(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        issue["fields"].update((request.json() or {}).get("fields", {}))
        return 204, b""

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)/properties/(?P<key>[^/]+)")
    def property_set(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        created = (issue["id"], request.params["key"]) not in self.properties
        self.properties[(issue["id"], request.params["key"])] = request.json()
        return (201 if created else 200), b""

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/properties/(?P<key>[^/]+)")
    def property_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        value = issue and self.properties.get((issue["id"], request.params["key"]))
        if value is None:
            return _error(404, "The property was not found.")
        return 200, {"key": request.params["key"], "value": value}

    @route("GET", r"/rest/api/3/search")
    def old_search(self, request: FakeRequest):
        return _error(410, "The requested API has been removed. Please migrate to /rest/api/3/search/jql.")

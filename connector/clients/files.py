"""Files between services without holding them in memory: a download spools to a temporary file (memory
up to a small threshold, then disk), and an upload streams a multipart body read from that file.

Downloads reach only allowed hosts (the helpdesk's own host, its CDNs, ``HELPDESK_DOWNLOAD_ALLOWED_HOSTS``),
at every redirect hop; credentials go only to the helpdesk's own host (scheme, host and port equal), never
to a host a redirect leads to. Zendesk: "The file may be hosted externally so take care not to
inadvertently send Zendesk authentication credentials" (developer.zendesk.com, Attachments, content_url).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterable
from typing import IO

SPOOL_IN_MEMORY_BYTES = 256 * 1024
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5


def spool() -> tempfile.SpooledTemporaryFile:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)


def host_allowed(host: str | None, port: int | None, patterns: Iterable[str]) -> bool:
    """``host`` (and ``port``) match one of ``patterns``: ``name``, ``*.domain`` (subdomains only),
    optionally with ``:port`` (without a port, any port matches)."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    for raw in patterns:
        pattern = raw.strip().lower()
        if not pattern:
            continue
        name, _, want_port = pattern.partition(":")
        if want_port and str(port or "") != want_port:
            continue
        if name.startswith("*."):
            if host.endswith(name[1:]) and host != name[2:]:
                return True
        elif host == name:
            return True
    return False


class MultipartStream:
    """A ``multipart/form-data`` body with one file part, read in chunks from ``fileobj`` (its size known,
    so the request carries a Content-Length and is not chunked)."""

    def __init__(self, field: str, filename: str, content_type: str, fileobj: IO[bytes], size: int):
        self.boundary = secrets.token_hex(16)
        safe_name = filename.replace("\\", "_").replace('"', "'").replace("\r", " ").replace("\n", " ")
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type or 'application/octet-stream'}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._file = fileobj
        self._size = size
        self._parts = [self._head, None, self._tail]
        self._index = 0
        self._offset = 0
        fileobj.seek(0)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        want = n if n and n > 0 else CHUNK_BYTES
        while len(out) < want and self._index < len(self._parts):
            part = self._parts[self._index]
            if part is None:
                chunk = self._file.read(want - len(out))
                if not chunk:
                    self._index += 1
                    continue
                out += chunk
                continue
            chunk = part[self._offset : self._offset + want - len(out)]
            out += chunk
            self._offset += len(chunk)
            if self._offset >= len(part):
                self._index, self._offset = self._index + 1, 0
        return bytes(out)


def file_size(fileobj: IO[bytes]) -> int:
    fileobj.seek(0, os.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    return size

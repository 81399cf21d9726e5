"""What the end-to-end tests share to run the real server and worker as subprocesses."""

from __future__ import annotations

import socket

from django.db import connection as db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The test database, for a subprocess (it must see what the test committed)."""
    s = db.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"

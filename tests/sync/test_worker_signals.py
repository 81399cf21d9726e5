"""The worker (`manage.py qcluster`) stops within 10 seconds of SIGTERM, sent to it alone (Docker) or to its
whole process group (systemd, Kubernetes), even with a long task in hand; nothing of it is left running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
STOP_WITHIN_SECONDS = 10


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("worker") / "template.sqlite3"
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=_env(path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return path


def _env(db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{db}",
        "Q_WORKERS": "1",
    }


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    return found


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
@pytest.mark.parametrize("target", ["process", "group"])
def test_sigterm_stops_the_worker_with_a_task_in_hand(migrated_db, tmp_path, target):
    db = tmp_path / "db.sqlite3"
    shutil.copy(migrated_db, db)
    log = tmp_path / "qcluster.log"
    env = _env(db)
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a service manager starts it
        )
    try:
        _wait_for(lambda: "running." in log.read_text(), 60, "the cluster to start")
        enqueue = "from django_q.tasks import async_task; async_task('time.sleep', 120)"
        subprocess.run([sys.executable, "manage.py", "shell", "-c", enqueue], cwd=ROOT, env=env, check=True, timeout=60)
        _wait_for(lambda: "processing" in log.read_text(), 30, "a worker to take the task")
        assert len(_group(worker.pid)) >= 4  # main, sentinel, pusher, monitor, worker

        if target == "group":
            os.killpg(worker.pid, signal.SIGTERM)
        else:
            worker.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _wait_for(
            lambda: not _group(worker.pid), STOP_WITHIN_SECONDS, f"everything to stop ({log.read_text()[-2000:]})"
        )
        assert time.monotonic() - started < STOP_WITHIN_SECONDS
        assert worker.wait(timeout=5) == 0
    finally:
        for process in _group(worker.pid):
            process.kill()

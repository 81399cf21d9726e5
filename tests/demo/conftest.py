"""``make demo``'s launcher (``python -m demo.run``) as a person runs it: a subprocess in its own session that
prints one URL; ``DemoProcess.interrupt()`` is the Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"Deskbridge demo: open (http://127\.0\.0\.1:\d+/)")
START_SECONDS = 60  # the issue: a URL within a minute


@dataclass
class DemoProcess:
    process: subprocess.Popen
    demo_dir: Path
    lines: list[str] = field(default_factory=list)
    url: str = ""
    started_in: float = 0.0

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_url(self, timeout: float = START_SECONDS) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for line in list(self.lines):
                match = URL_LINE.search(line)
                if match:
                    self.url, self.started_in = match.group(1), time.monotonic() - t0
                    return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.demo_dir.glob("*.log")))
        raise AssertionError(f"no URL within {timeout} s; output:\n{self.output()}\n{logs}")

    def descendants(self) -> list[psutil.Process]:
        """Every process the launcher started (the web server, the worker and the worker's own processes)."""
        found = []
        for proc in psutil.process_iter(["pid", "environ"]):
            try:
                env = proc.info["environ"] or {}
            except psutil.Error:
                continue
            if env.get("DEMO_DIR") == str(self.demo_dir) and proc.pid != self.process.pid:
                found.append(proc)
        return found

    def interrupt(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def launched(demo_dir: Path):
    """``python -m demo.run --dir demo_dir`` while the block runs; afterwards Ctrl-C, and no process it started
    is left behind."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DEMO_PORT")}
    process = subprocess.Popen(
        [sys.executable, "-m", "demo.run", "--dir", str(demo_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    running = DemoProcess(process=process, demo_dir=demo_dir)
    threading.Thread(target=running._read, daemon=True).start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for proc in running.descendants():  # never leave a test's processes behind, whatever happened
            if alive(proc):
                proc.kill()


@pytest.fixture
def demo(tmp_path):
    with launched(tmp_path / "demo") as running:
        yield running


@pytest.fixture(scope="module")
def shared_demo(tmp_path_factory):
    """One launcher for a whole test module (its tests share the demo's state, in file order)."""
    with launched(tmp_path_factory.mktemp("shared") / "demo") as running:
        yield running

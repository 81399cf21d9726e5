"""Run the web server and the django-q2 cluster together; Ctrl-C (or either one exiting) stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server and the task cluster as one unit (used by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, host: str, port: str, **options):
        manage = [sys.executable, "manage.py"]
        procs = {
            "task cluster": subprocess.Popen([*manage, "qcluster"]),
            "web server": subprocess.Popen([*manage, "runserver", "--noreload", f"{host}:{port}"]),
        }
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                exited = [name for name, p in procs.items() if p.poll() is not None]
                if exited:
                    self.stderr.write(f"{exited[0]} exited; stopping the rest.")
                    break
                time.sleep(0.3)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 15
            for p in procs.values():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
        self.stdout.write("Stopped web server and task cluster.")

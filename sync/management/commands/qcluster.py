"""``manage.py qcluster``: django-q2's cluster, stopping cleanly on SIGTERM and SIGINT.

django-q2's own command stops on Ctrl-C, but a SIGTERM sent to the whole process group (systemd,
Kubernetes) kills its sentinel while the main process, already joining that sentinel at exit, runs the stop
handler again and waits forever (measured: still running 75 minutes later, ignoring further SIGTERMs). A
SIGTERM to the main process alone (Docker) stops gracefully but waits for the task in hand, up to the task
timeout.

This command replaces it (the ``sync`` app precedes ``django_q`` in INSTALLED_APPS). The main process only
records a stop request in its signal handler; its loop then asks the cluster to stop, gives it
``QCLUSTER_STOP_GRACE_SECONDS`` to finish, and ends whatever is left (the sentinel and its workers). A task
cut off this way is safe to resume: the broker delivers it again after ``Q_RETRY_SECONDS`` and tasks are
idempotent and leased.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.cluster import Cluster

logger = logging.getLogger(__name__)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _end(processes: list[psutil.Process], *, grace: float) -> None:
    """SIGTERM, then SIGKILL whatever is still alive after ``grace`` seconds."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


class Command(BaseCommand):
    help = "Start the task cluster (django-q2); SIGTERM or SIGINT stops it within the stop grace period."

    def add_arguments(self, parser):
        parser.add_argument("--run-once", action="store_true", help="Start, then stop at once (smoke test).")

    def handle(self, *args, run_once: bool = False, **options):
        settings.SECRET_KEY  # noqa: B018 - django-q2 signs task payloads with it: fail early without one
        stop_requested = threading.Event()

        def request_stop(signum, frame):
            stop_requested.set()  # nothing else here: the loop below does the work, outside the handler

        cluster = Cluster()  # installs django-q2's handlers; ours replace them
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        cluster.start()
        sentinel = cluster.sentinel
        if run_once:
            stop_requested.set()
        while not stop_requested.wait(0.5):
            if not sentinel.is_alive():
                logger.warning("task cluster sentinel exited (code %s); stopping", sentinel.exitcode)
                break
        self._stop(cluster, sentinel)

    @staticmethod
    def _stop(cluster: Cluster, sentinel) -> None:
        grace = settings.QCLUSTER_STOP_GRACE_SECONDS
        workers = _descendants(sentinel.pid) if sentinel.pid else []
        if sentinel.is_alive():
            logger.info("task cluster stopping (up to %s s for the tasks in hand)", grace)
            # Pusher stops taking tasks, workers get their poison pills. The event's lock is shared with the
            # sentinel: a sentinel killed while holding it (a group SIGTERM) would block set() forever, so it
            # is set from a helper thread and never waited on past the grace period.
            setter = threading.Thread(target=cluster.stop_event.set, daemon=True)
            setter.start()
            sentinel.join(timeout=grace)
        if sentinel.is_alive():
            logger.warning("task cluster did not stop within %s s; ending its processes", grace)
            workers = _descendants(sentinel.pid) or workers
            _end([psutil.Process(sentinel.pid), *workers], grace=1)
        sentinel.join(timeout=1)
        # Workers outlive a sentinel killed by a group SIGTERM only if they ignored it: end them too.
        _end([w for w in workers if w.is_running()], grace=1)
        _end(_descendants(os.getpid()), grace=1)
        logger.info("task cluster stopped")

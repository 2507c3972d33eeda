"""The lease on a sweep's MLflow parent run: one launcher at a time drives a sweep, across machines.

The file lock (``sweep.session.sweep_lock``) holds on one machine and on a shared storage path; two
launchers on different machines against the same MLflow server share neither. The parent run is the
one thing both see, so the launcher that drives the sweep keeps a tag on it, ``regsweep.lease``:
who holds it, and when it lapses. It renews the tag while it runs and removes it when it ends. A
launcher that dies leaves a lease that lapses ``LEASE_S`` after its last renewal; until then a resume
on another machine is refused in one line that says when it may go ahead. On the machine where it
died, a lease whose process is gone is stale at once, so a resume right after a crash goes ahead.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from trainables import names
from trainables.errors import ConfigError

#: How long a lease lasts after its last renewal, in seconds.
LEASE_S = 120.0
#: How often the holder renews it: three renewals fit in one lease, so one failed call does not lose it.
RENEW_S = 30.0
#: After writing the tag, wait this long and read it back: of two launchers that wrote at once, the one
#: whose value did not stick steps back.
SETTLE_S = 0.5


@dataclass(frozen=True)
class LeaseValue:
    """A parsed lease tag: ``holder`` is "<host>:<pid>:<random>", ``until`` a Unix time."""

    holder: str
    until: float

    @classmethod
    def parse(cls, text: Optional[str]) -> Optional["LeaseValue"]:
        try:
            holder, until = (text or "").rsplit(" ", 1)
            return cls(holder, float(until))
        except ValueError:
            return None

    def text(self) -> str:
        return f"{self.holder} {self.until:.0f}"

    @property
    def host_and_pid(self) -> tuple[str, str]:
        host, pid = (self.holder.split(":") + ["?", "?"])[:2]
        return host, pid

    def where(self) -> str:
        host, pid = self.host_and_pid
        return f"host {host}, pid {pid}"

    def held_by_a_dead_process_here(self) -> bool:
        """The holder ran on this host and its pid is gone: a launcher that crashed or was killed here.
        (A reused pid keeps the lease until it lapses: the safe side.)"""
        host, pid = self.host_and_pid
        if host != socket.gethostname() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False


def new_holder() -> str:
    """This launcher's name in a lease: host and pid for the person reading the refusal, plus a random
    part, since pids repeat across machines and containers."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_free(client: Any, run_id: str, sweep: str, holder: str, now: Optional[float] = None) -> None:
    """Refuse, in one line, a sweep whose parent run another launcher's live lease holds."""
    now = time.time() if now is None else now
    lease = LeaseValue.parse(client.get_run(run_id).data.tags.get(names.TAG_LEASE))
    if lease is None or lease.holder == holder or lease.until <= now or lease.held_by_a_dead_process_here():
        return
    lapses = time.strftime("%H:%M:%S UTC", time.gmtime(lease.until))
    raise ConfigError("name", f"sweep {sweep!r} is being driven by another launcher ({lease.where()}; its lease on "
                      f"the MLflow parent run {run_id} holds until {lapses})",
                      f"wait for that launcher to end; if it died, run the same command again after {lapses}")


class Lease:
    """Take the lease on ``run_id`` and keep it renewed from a daemon thread until ``release``."""

    def __init__(self, client: Any, run_id: str, sweep: str, holder: Optional[str] = None) -> None:
        self.client, self.run_id, self.sweep = client, run_id, sweep
        self.holder = holder or new_holder()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self) -> "Lease":
        """Check, write, wait ``SETTLE_S`` and check again: a launcher that wrote at the same moment as
        another and lost is refused like any later one."""
        check_free(self.client, self.run_id, self.sweep, self.holder)
        try:
            self._write()
        except Exception:  # another launcher's write collided with ours (SQLite: a unique-key race)
            time.sleep(SETTLE_S)
            check_free(self.client, self.run_id, self.sweep, self.holder)
            self._write()
        time.sleep(SETTLE_S)
        check_free(self.client, self.run_id, self.sweep, self.holder)
        self._thread = threading.Thread(target=self._renew, name="regsweep-lease", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop renewing and remove the tag (only if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            lease = LeaseValue.parse(self.client.get_run(self.run_id).data.tags.get(names.TAG_LEASE))
            if lease is not None and lease.holder == self.holder:
                self.client.delete_tag(self.run_id, names.TAG_LEASE)
        except Exception:  # the server may be down at the end: the lease then lapses by itself
            pass

    def _write(self) -> None:
        self.client.set_tag(self.run_id, names.TAG_LEASE, LeaseValue(self.holder, time.time() + LEASE_S).text())

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_S):
            try:
                self._write()
            except Exception:  # an outage: the writer says so; the next renewal tries again
                pass


def take(uri: str, run_id: str, sweep: str, holder: str) -> Lease:
    """Acquire the lease on the parent run at ``uri`` (MLflow is imported here, not at import time)."""
    from mlflow.tracking import MlflowClient

    return Lease(MlflowClient(tracking_uri=uri), run_id, sweep, holder).acquire()

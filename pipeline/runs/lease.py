"""One run per OUTPUT: a lease object in OUTPUT, taken atomically, renewed while the run lives and
expiring after a killed run, so that the next run takes over with no clean-up by hand.

Taking it is an exclusive create: S3's conditional PUT (`If-None-Match: *`), a hard link of a fully
written file on local and NFS disks. Renewing and taking over an expired lease replace it only if it
is still the version that was read (S3 `If-Match` on its ETag; on local disks a compare of the
content, then an atomic rename). A holder on this host whose process is gone has expired at once.
Slow storage never costs a live run its lease: each lease request gives up within a sixth of the term
(two tries), a failed renewal is tried again three times as often, and a renewal whose answer came
after the client gave up is recognised as our own write.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from fsspec.core import split_protocol
from fsspec.implementations.local import LocalFileSystem

from operators.errors import ConfigError
from pipeline.runs.layout import RunLayout
from pipeline.storage import S3_PROTOCOLS, atomic_writer, filesystem, to_url

LEASE_SECONDS = 60.0
log = logging.getLogger(__name__)


class OutputHeld(ConfigError):
    """Another live run holds OUTPUT (exit status 2, before any work)."""


class LeaseLost(Exception):
    """The lease was taken over while this run still lived (it missed renewals for a whole term)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, since when, and until when unless renewed."""

    run_id: str
    host: str
    pid: int
    started_at: float
    expires_at: float

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started_at))
        return f"run {self.run_id} (started {since} on {self.host}, pid {self.pid})"

    def expired(self, now: float) -> bool:
        """Past its term, or its process is gone from this very host."""
        if now >= self.expires_at:
            return True
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass  # alive, another user's
        return False


def bounded(url: str, options: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """`options` whose S3 requests give up after `seconds` (at least 1), two tries each: a lease
    request must end well within the lease's term, however slow the store."""
    if split_protocol(url)[0] not in S3_PROTOCOLS:
        return dict(options)
    limit = max(seconds, 1.0)
    config = {**dict(options.get("config_kwargs") or {}), "connect_timeout": limit, "read_timeout": limit,
              "retries": {"mode": "standard", "max_attempts": 2}}
    return {**options, "config_kwargs": config}


def current_holder(layout: RunLayout) -> Holder | None:
    """Who holds OUTPUT now; None if no run does (no lease, or an expired one)."""
    holder, _ = Lease(layout, run_id="")._read()
    return holder if holder and not holder.expired(time.time()) else None


class Lease:
    """`with Lease(layout, run_id):` holds OUTPUT for the block; `wait` queues behind a holder."""

    def __init__(self, layout: RunLayout, run_id: str, seconds: float = LEASE_SECONDS, wait: bool = False) -> None:
        self.output = layout.output
        self.fs, self.path = filesystem(layout.lease, bounded(layout.lease, layout.storage_options, seconds / 6))
        self.run_id, self.seconds, self.wait = run_id, seconds, wait
        self.started_at = time.time()
        self.version: Any = None  # what the store says we last wrote (ETag, or our bytes on local disks)
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="lease-renewer", daemon=True)

    @property
    def url(self) -> str:
        return to_url(self.fs, self.path)

    def __enter__(self) -> Lease:
        self.acquire()
        self._renewer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._renewer.join()
        self.release()

    def check(self) -> None:
        """Raise LeaseLost if another run took OUTPUT over while this one ran."""
        if self.lost:
            raise LeaseLost(self.lost)

    def acquire(self) -> None:
        """Take the lease, taking over an expired one; OutputHeld (or a wait, with `wait`) if it is held."""
        announced = False
        while True:
            holder, version = self._read()
            if holder is None and version is None:
                if self._create():
                    return
                continue  # another run created it between our read and our create
            if holder is None or holder.expired(time.time()):
                if self._replace(version):
                    if holder:
                        log.warning("took over OUTPUT from %s, whose lease had expired", holder.describe())
                    return
                continue
            if not self.wait:
                left = max(0, int(holder.expires_at - time.time()))
                raise OutputHeld(
                    f"OUTPUT {self.output} is held by {holder.describe()}; its "
                    f"lease ends in {left} s unless that run renews it. Wait for it to finish, or add --wait")
            if not announced:
                log.warning("waiting for %s to release OUTPUT", holder.describe())
                announced = True
            time.sleep(min(5.0, self.seconds / 4))

    def release(self) -> None:
        """Delete the lease if it is still ours. Where the store refuses (access revoked, gone), the
        lease is left to expire: the run's own end (or its abort) must not be hidden by it."""
        try:
            holder, _ = self._read()
            if holder and holder.run_id == self.run_id:
                self.fs.rm_file(self.path)
        except OSError as exc:
            log.warning("could not release the lease %s (%s); it expires within %d s", self.url, exc, self.seconds)

    def _renew_until_stopped(self) -> None:
        interval = self.seconds / 4
        while not self._stop.wait(interval):
            try:
                if not self._replace(self.version):
                    holder, _ = self._read()
                    self.lost = f"another run took OUTPUT over: {holder.describe() if holder else 'unknown'}"
                    log.error("lease lost: %s", self.lost)
                    return
                interval = self.seconds / 4
            except OSError as exc:  # the store is slow or unreachable for now: try again soon
                log.warning("could not renew the lease %s: %s", self.url, exc)
                interval = self.seconds / 12

    def _content(self) -> bytes:
        now = time.time()
        holder = Holder(self.run_id, socket.gethostname(), os.getpid(), self.started_at, now + self.seconds)
        return json.dumps(asdict(holder)).encode()

    def _read(self) -> tuple[Holder | None, Any]:
        """(holder, version) of the lease as stored; (None, None) if there is none, (None, version) if
        it cannot be parsed (a lease written by something else: treated as expired)."""
        try:
            data = self.fs.cat_file(self.path)
            version = data if self._local else self.fs.info(self.path).get("ETag")
        except FileNotFoundError:
            return None, None
        try:
            return Holder(**json.loads(data)), version
        except (ValueError, TypeError):
            return None, version

    @property
    def _local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def _create(self) -> bool:
        """Exclusive create; False if a lease appeared first."""
        content = self._content()
        if self._local:
            temp = f"{self.path}.{secrets.token_hex(4)}.new"
            self.fs.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temp, "wb") as f:
                f.write(content)
            try:
                os.link(temp, self.path)  # atomic, and fails if the name exists (NFS included)
            except FileExistsError:
                return False
            finally:
                os.unlink(temp)
            self.version = content
            return True
        try:
            self.version = self.fs.pipe_file(self.path, content, mode="create").get("ETag")
        except FileExistsError:
            return False
        return True

    def _replace(self, expected: Any) -> bool:
        """Overwrite the lease if it is still at version `expected`; False if it changed."""
        content = self._content()
        if self._local:
            try:
                if self.fs.cat_file(self.path) != expected:
                    return False
            except FileNotFoundError:
                return False
            with atomic_writer(self.fs, self.path) as f:
                f.write(content)
            self.version = content
            return True
        try:
            self.version = self.fs.pipe_file(self.path, content, IfMatch=expected).get("ETag")
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno == errno.EINVAL and "condition" in str(exc):  # 412 Precondition Failed
                return self._landed_already()
            raise
        return True

    def _landed_already(self) -> bool:
        """After a 412: whether the lease changed only by our own write. Slow storage answers a PUT
        after the client gave up; the client's retry then fails its If-Match against the write that
        landed. The run still holds OUTPUT: adopt that version."""
        holder, version = self._read()
        if holder and (holder.run_id, holder.host, holder.pid) == (self.run_id, socket.gethostname(), os.getpid()):
            self.version = version
            return True
        return False

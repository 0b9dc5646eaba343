"""What a command shows on the terminal: its own lines and Ray Data's progress bars, nothing else.

Ray's own logging (token-auth notices, deprecation warnings, the core worker's `E ...` lines written
by native code at start and exit, workers' output) goes to a log file that ends up in the Ray
session's log folder; the run's final line names that folder. `--verbose` leaves everything on the
terminal as Ray prints it."""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from typing import TextIO

from pipeline.cluster import session_log_dir, show_worker_logs

DRIVER_LOG = "stylebatch-driver-{pid}.log"
OWN_LOGGERS = ("pipeline", "jobs", "operators")
RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune")


class Console:
    """The terminal of one command, after `quiet()`: where our lines go, and where Ray's went."""

    def __init__(self) -> None:
        self.log_path = ""

    def quiet(self) -> None:
        """Send the process's standard error (native code writes there) to the driver log, keep
        Python's `sys.stderr` on the terminal for our lines and the progress bars, and move Ray's
        loggers, Python warnings and workers' output to the log."""
        folder = os.path.join(os.environ.get("RAY_TMPDIR", tempfile.gettempdir()), "ray")
        os.makedirs(folder, exist_ok=True)
        self.log_path = os.path.join(folder, DRIVER_LOG.format(pid=os.getpid()))
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stderr.flush()
        terminal: TextIO = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors="replace")
        os.dup2(log_fd, 2)
        os.close(log_fd)
        sys.stderr = terminal
        to_log = logging.StreamHandler(open(self.log_path, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115
        to_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_log.setLevel(logging.INFO)
        import ray.data  # noqa: F401  (its logging is configured on import: routed below, once)

        for name in RAY_LOGGERS:
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    logger.removeHandler(handler)  # a console handler (Ray's session files stay)
            logger.addHandler(to_log)
            logger.propagate = False
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").addHandler(to_log)
        logging.getLogger("py.warnings").propagate = False
        for name in OWN_LOGGERS:
            logging.getLogger(name).addHandler(to_log)
        show_worker_logs(False)

    def logs(self) -> str:
        """Where Ray's logs of this run are: the session's log folder (the driver's log moved into it),
        or the driver's log where no session started; "" when nothing was routed."""
        if not self.log_path:
            return ""
        folder = session_log_dir()
        if folder and os.path.dirname(self.log_path) != folder:
            moved = os.path.join(folder, os.path.basename(self.log_path))
            try:
                os.replace(self.log_path, moved)  # the open descriptors follow the file
                self.log_path = moved
            except OSError:
                return self.log_path
        return folder or self.log_path


CONSOLE = Console()


def set_up(verbose: bool) -> None:
    """Quiet by default; `--verbose` shows Ray's own output as it comes. Only a command that owns its
    process's standard error is quieted (once): a caller that captures it (a test, a notebook) keeps
    everything as it was."""
    if CONSOLE.log_path or sys.stderr is not sys.__stderr__:
        return
    if not verbose:
        CONSOLE.quiet()
    own = logging.StreamHandler()  # sys.stderr when it writes: the terminal's after quiet()
    own.setFormatter(logging.Formatter("stylebatch: %(message)s"))
    for name in OWN_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(own)
        logger.propagate = False

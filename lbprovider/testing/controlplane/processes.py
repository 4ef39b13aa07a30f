"""The control plane's child processes: free loopback ports, starting each binary
with its own log file, waiting until it answers its health endpoint, and
stopping them all in reverse order."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lbprovider.testing.controlplane.errors import ControlPlaneError

__all__ = [
    "LOOPBACK",
    "ChildProcesses",
    "die_with_parent_hook",
    "free_ports",
    "http_ok",
    "https_ok",
]

#: Every process binds here, and the serving certificate names it.
LOOPBACK = "127.0.0.1"

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago.

    All sockets stay bound until every port is chosen, so the ports differ; a
    process elsewhere may still grab one before the caller binds it.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return tuple(ports)


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies.

    This covers what ``atexit`` cannot: the test process being SIGKILLed, or
    pytest-timeout's ``os._exit``.  Linux ties it to the *thread* that forked, so
    start a control plane from a thread that lives as long as the plane.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Resolved here, in the parent: loading a library after fork() can deadlock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


@dataclass(frozen=True, kw_only=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]


class ChildProcesses:
    """The processes one control plane started, in start order.

    Each runs in ``workdir`` with its output in ``<workdir>/logs/<name>.log``
    (the caller creates ``logs``).
    """

    def __init__(self, *, workdir: Path) -> None:
        self._workdir = workdir
        self._children: list[_Child] = []

    @property
    def log_paths(self) -> dict[str, Path]:
        """Log file of each started process, by name."""
        return {child.name: child.log_path for child in self._children}

    def spawn(self, name: str, args: list[str], *, preexec: Callable[[], None] | None) -> None:
        """Start ``args`` as the process called ``name``."""
        log_path = self._workdir / "logs" / f"{name}.log"
        log_file = log_path.open("wb")
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
                # Its own session: a terminal's Ctrl-C reaches only pytest, which
                # then stops the plane in order instead of racing the children.
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 - only prctl(), resolved before the fork
            )
        except BaseException:
            log_file.close()
            raise
        self._children.append(
            _Child(name=name, process=process, log_path=log_path, log_file=log_file)
        )

    def wait(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        """Poll ``check`` until it is true; fail if a process exits or ``deadline`` passes.

        The :class:`ControlPlaneError` quotes the tail of every log.
        """
        while True:
            for child in self._children:
                code = child.process.poll()
                if code is not None:
                    raise ControlPlaneError(
                        f"{child.name} exited with status {code} while waiting for {what}\n"
                        + self.describe_logs()
                    )
            if check():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what}\n" + self.describe_logs())
            time.sleep(0.1)

    def describe_logs(self) -> str:
        """Each log's path and last lines."""
        return "\n".join(
            f"--- {child.log_path} (last lines) ---\n{_log_tail(child.log_path)}"
            for child in self._children
        )

    def stop(self, *, timeout: float) -> None:
        """SIGTERM each process, newest first, then SIGKILL any still up after ``timeout``."""
        # Reverse start order: the API server shuts down cleanly only while etcd is up.
        for child in reversed(self._children):
            process = child.process
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            child.log_file.close()


def _log_tail(path: Path, *, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def http_ok(host: str, port: int, path: str) -> bool:
    """Whether ``http://host:port/path`` answers 200."""
    return _probe(http.client.HTTPConnection(host, port, timeout=2), path) is not None


def https_ok(host: str, port: int, path: str, context: ssl.SSLContext) -> bool:
    """Whether ``https://host:port/path`` answers 200 with the body ``ok``."""
    body = _probe(http.client.HTTPSConnection(host, port, timeout=2, context=context), path)
    return body == b"ok"


def _probe(connection: http.client.HTTPConnection, path: str) -> bytes | None:
    """The body of a 200 response, else None (also when nothing listens yet)."""
    # http.client, not urllib: urllib would honour an environment proxy.
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return body if response.status == 200 else None

"""Stopping a headless notebook run: Ctrl-C (SIGINT) or SIGTERM ends the Jupyter kernel and every process it
started, removes the kernel's files, and raises ``RunInterrupted`` in the main thread (``stop_on_signals``); kernels
start on the IPC transport where the platform has it (``tracked_kernel_manager``), which also records them so a
stop can remove their files. ``pipeline`` uses it around every run."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_TIMEOUT = 10.0  # seconds an interrupted run may take to stop before it is ended by force


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run; ``partial`` is the partly executed copy, when a notebook was running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.partial: Path | None = None

    @property
    def exit_code(self) -> int:
        """The shell's status for a run ended by this signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


def _wait_gone(procs: list, timeout: float) -> list:
    """Wait up to ``timeout`` seconds for ``procs`` (psutil processes) to end; return those still running
    (a zombie counts as ended: only its parent's wait is left)."""
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def end_child_processes(grace: float = 2.0) -> None:
    """End every process this one started (a Jupyter kernel, what its cells started: DataLoader or Optuna
    workers, ...) and the process groups they lead or belong to (a kernel leads its own session): SIGTERM, then
    SIGKILL to whatever is left after ``grace`` seconds. This process's own group is never signalled whole."""
    import psutil

    procs = psutil.Process().children(recursive=True)
    own = os.getpgrp()
    groups = set()
    for p in procs:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(p.pid))
    groups.discard(own)

    def send(signum: int, targets: list) -> None:
        for group in groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signum)
        for p in targets:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signum)

    send(signal.SIGTERM, procs)
    alive = _wait_gone(procs, grace)
    send(signal.SIGKILL, alive)  # the groups too: members started after the snapshot, or deaf to SIGTERM
    _wait_gone(alive, grace)


_KERNEL_MANAGERS: weakref.WeakSet = weakref.WeakSet()


IPC_PATH_MAX = 100  # a Unix socket path holds at most 107 bytes on Linux, 103 on macOS


def ipc_transport_usable() -> bool:
    """Whether kernels can talk to the runner over local Unix sockets (ZeroMQ's ``ipc://``): a POSIX system whose
    libzmq has IPC, and a Jupyter runtime folder short enough for the socket paths written in it
    (``<runtime>/kernel-<uuid>-ipc-<port>``)."""
    import zmq
    from jupyter_core.paths import jupyter_runtime_dir

    longest = Path(jupyter_runtime_dir()) / f"kernel-{'0' * 36}-ipc-65535"
    return os.name == "posix" and zmq.has("ipc") and len(os.fsencode(longest)) <= IPC_PATH_MAX


@functools.cache
def tracked_kernel_manager() -> type:
    """nbclient's kernel manager class, recording each manager that wrote a connection file: a run stopped while
    its kernel starts (before nbclient cleans up after itself) still removes the file.

    Kernels use the IPC transport where ``ipc_transport_usable``: the runner and its kernel share the machine,
    and a kernel on TCP without CurveZMQ keys prints ipykernel's warning "Kernel is running over TCP without
    encryption" once per notebook. The socket files live in the Jupyter runtime folder (private to the user) and
    go with the connection file. Elsewhere (Windows, a long runtime path) kernels stay on TCP with CurveZMQ keys
    provisioned by the manager where jupyter_client can (8.10+, a kernelspec declaring support) and plain TCP
    otherwise."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    ipc = ipc_transport_usable()

    class TrackedKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if ipc else "tcp"

        if not ipc and AsyncKernelManager.class_traits().get("transport_encryption") is not None:
            @default("transport_encryption")
            def _transport_encryption_default(self) -> str:
                import zmq

                return "auto" if zmq.has("curve") else "disabled"

        def write_connection_file(self, **kwargs: object) -> None:
            super().write_connection_file(**kwargs)
            _KERNEL_MANAGERS.add(self)

    return TrackedKernelManager


def remove_connection_files() -> None:
    """Remove the connection files (and IPC socket files) of the kernels this process started (a no-op for those
    already cleaned up)."""
    for km in list(_KERNEL_MANAGERS):
        with contextlib.suppress(Exception):
            km.cleanup_connection_file()
        with contextlib.suppress(Exception):
            km.cleanup_ipc_files()


class _Stopper:
    """Signal handling of one run: the first SIGINT/SIGTERM ends the child processes and raises
    ``RunInterrupted`` in the main thread, unless a ``deferred`` section runs (it raises when that ends);
    signals after the first are ignored while the run stops. Should the run still go on ``STOP_TIMEOUT``
    seconds later (code that swallows every exception caught the interrupt, or a clean-up hangs), a watchdog
    thread ends the child processes and exits the process."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.depth = 0
        self.watchdog: threading.Timer | None = None

    def reset(self) -> None:
        """Forget a signal of an earlier run (``cli`` may run more than once in one process)."""
        self.cancel()
        self.signum = None

    def cancel(self) -> None:
        """The run stopped (or ended): no forced exit."""
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    def handle(self, signum: int, frame: object) -> None:
        """The signal handler: the first signal starts the watchdog and stops the run (after a deferred section)."""
        if self.signum is not None:
            return
        self.signum = signum
        self.watchdog = threading.Timer(STOP_TIMEOUT, self.force, args=(signum,))
        self.watchdog.daemon = True
        self.watchdog.start()
        if not self.depth:
            self.stop()

    def stop(self) -> None:
        end_child_processes()
        remove_connection_files()
        raise RunInterrupted(self.signum)

    def check(self) -> None:
        """Raise ``RunInterrupted`` if a signal came and its exception got lost."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    def force(self, signum: int) -> None:
        """The watchdog: end the child processes, say so and exit now (a partial copy stays in ``.running_``)."""
        if self.watchdog is None:  # cancelled as it fired
            return
        end_child_processes()
        remove_connection_files()
        print(f"run interrupted by {signal.Signals(signum).name}; stopped by force after {STOP_TIMEOUT:g} s "
              "(a partly executed copy stays as .running_<notebook>)", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(128 + signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a signal must not cut (a copy being moved to its final name): it raises after it."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.signum is not None:
            self.stop()


_STOPPER = _Stopper()


def deferred() -> contextlib.AbstractContextManager[None]:
    """A section a signal must not cut (an executed copy moved to its final name): the stop waits for its end."""
    return _STOPPER.deferred()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Make SIGINT and SIGTERM stop the run (``RunInterrupted``) inside the block, whatever the inherited
    disposition (a shell ignores SIGINT in background jobs); the earlier handlers come back after it."""
    import psutil  # noqa: F401  (imported now, not inside a signal handler)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _STOPPER.reset()
    previous = {s: signal.signal(s, _STOPPER.handle) for s in STOP_SIGNALS}
    try:
        yield
        _STOPPER.check()
    finally:
        _STOPPER.reset()  # a later run in this process (``deferred`` without the handlers) starts clean
        for s, handler in previous.items():
            signal.signal(s, handler)

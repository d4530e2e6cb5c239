"""What every test server shares: free loopback ports and the error a missing server raises."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


class ServerUnavailable(RuntimeError):
    """A server the tests need could not be installed or started; the message says what to do."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_child(process: subprocess.Popen[bytes] | None, grace: float = 10) -> None:
    """A clean shutdown by PID: SIGTERM, then SIGKILL after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def kill_child(process: subprocess.Popen[bytes] | None) -> None:
    """A crash: SIGKILL by PID, no chance to flush or close anything."""
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

"""What every test server shares: free loopback ports and the error a missing server raises."""

from __future__ import annotations

import socket


class ServerUnavailable(RuntimeError):
    """A server the tests need could not be installed or started; the message says what to do."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

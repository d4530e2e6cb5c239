"""Timeouts: a request that takes too long gets a JSON 503; a connection that dawdles over
its request headers is closed.

Why both: uvicorn closes idle keep-alive connections (`keep_alive_timeout`) but has no
timeout for a client that opens a connection and sends its headers a byte at a time
(slowloris), which ties up a connection slot forever; `header_timeout` closes those. Once the
headers are in, the handler runs under `request_timeout`, which also bounds a body that
trickles in. Store work already handed to a thread cannot be stopped: it finishes in the
background, which is why the 503 says the request may still complete (retrying with the
same statement ids is safe: the store answers a resend of the same statement without storing
it twice).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrs.api.limits import send_error

log = logging.getLogger("lrs.api")


class RequestTimeout:
    """ASGI middleware: answer 503 (JSON, Retry-After) when no response started in time."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            return await self.app(scope, receive, send)
        started = False
        answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:  # we answered 503 already: the late handler's answer goes nowhere
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if task in done or started:
            # Finished, or already streaming its answer: a started response is not cut off.
            await task
            return
        answered = True
        task.cancel()
        task.add_done_callback(_retrieve)
        log.warning(
            "%s %s took longer than %.0f s: answered 503",
            scope.get("method"),
            scope.get("path"),
            self.seconds,
        )
        await send_error(
            scope,
            send,
            503,
            "timeout",
            f"the request took longer than {self.seconds:g} s; it may still complete: "
            "retry later (resending the same statement ids is safe)",
            None,
            {"Retry-After": "5"},
        )


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Collect a cancelled handler's outcome so asyncio does not report it as lost."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("a timed-out request failed afterwards: %r", task.exception())


def header_timeout_protocol(seconds: float, base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class that closes a connection whose request headers are not
    complete `seconds` after the connection opened or the request started arriving.

    It answers 408 (JSON) before closing. Both uvicorn protocols (httptools and h11) create
    `self.cycle` when a request's headers are complete, which is what the timer checks.
    """
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    body = orjson.dumps(
        {
            "error": {
                "code": "timeout",
                "message": f"the request headers did not arrive within {seconds:g} s",
            }
        }
    )
    reply = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n".encode()
        + b"connection: close\r\n\r\n"
        + body
    )

    class HeaderTimeout(base):  # type: ignore[valid-type,misc]
        _header_timer: asyncio.TimerHandle | None = None
        # The request cycle that was the latest when bytes last arrived between requests:
        # equal to `self.cycle` while a request's headers are coming in, different while
        # the connection idles after a response (which keep_alive_timeout looks after).
        _receiving_after: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            if self._between_requests():
                self._receiving_after = self.cycle
                if self._header_timer is None:
                    self._arm_header_timer()
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            return self.cycle is None or bool(self.cycle.response_complete)

        def _arm_header_timer(self) -> None:
            if seconds > 0:
                self._header_timer = self.loop.call_later(seconds, self._headers_late, self.cycle)

        def _headers_late(self, armed_cycle: Any) -> None:
            self._header_timer = None
            if self.transport.is_closing() or not self._between_requests():
                return  # a request is being handled; the next one arms its own timer
            if self._receiving_after is not self.cycle:
                return  # idle after a response: not waiting for headers
            if self.cycle is not armed_cycle:
                # The request that was arriving when the timer was armed completed; this
                # one started later and gets its own full time.
                self._arm_header_timer()
                return
            self.transport.write(reply)
            self.transport.close()

    HeaderTimeout.__name__ = f"HeaderTimeout{base.__name__}"
    return HeaderTimeout

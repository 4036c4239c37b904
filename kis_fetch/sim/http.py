"""A small HTTP/1.1 server on asyncio streams and h11.

Each connection serves requests one after another (keep-alive). A handler
returns a `Response`, or None to close the connection without responding,
which is how the simulator drops connections on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

log = logging.getLogger("kis_fetch.sim")

MAX_BODY_BYTES = 1 << 20
READ_CHUNK_BYTES = 65536


@dataclass(slots=True)
class Request:
    """A parsed request: lower-case header names, decoded query and raw body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body decoded as JSON; raise ValueError when invalid."""
        return json.loads(self.body.decode("utf-8")) if self.body else {}


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response | None]]

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        status, body, [("content-type", JSON_CONTENT_TYPE), *(headers or [])]
    )


class HttpServer:
    """Serve `handler` on host:port; port 0 picks a free port."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        on_connection: Callable[[], None] | None = None,
    ) -> None:
        self.handler = handler
        self.on_connection = on_connection
        self.host = host
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Start listening and return the bound port."""
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and cancel every open connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        if self.on_connection is not None:
            self.on_connection()
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = h11.Connection(h11.SERVER)
        while True:
            try:
                request = await self._read_request(connection, reader)
            except h11.RemoteProtocolError as exc:
                log.debug("rejected a malformed request: %s", exc)
                await self._send_error(connection, writer, exc.error_status_hint)
                return
            if request is None:
                return
            response = await self.handler(request)
            if response is None:
                return
            await self._send(connection, writer, response)
            if connection.our_state is h11.MUST_CLOSE:
                return
            try:
                connection.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read_request(
        self, connection: h11.Connection, reader: asyncio.StreamReader
    ) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(READ_CHUNK_BYTES)
                connection.receive_data(data)
                if not data and head is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise h11.RemoteProtocolError("body too large", 413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _build_request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None
            elif event is h11.PAUSED:
                return None

    async def _send(
        self,
        connection: h11.Connection,
        writer: asyncio.StreamWriter,
        response: Response,
    ) -> None:
        headers = [(name.encode(), value.encode()) for name, value in response.headers]
        headers.append((b"content-length", str(len(response.body)).encode()))
        data = connection.send(
            h11.Response(status_code=response.status, headers=headers)
        )
        data += connection.send(h11.Data(data=response.body))
        data += connection.send(h11.EndOfMessage())
        writer.write(data)
        await writer.drain()

    async def _send_error(
        self, connection: h11.Connection, writer: asyncio.StreamWriter, status: int
    ) -> None:
        if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"{status} bad request\n".encode()
        response = Response(status, body, [("content-type", "text/plain")])
        with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
            await self._send(connection, writer, response)


def _build_request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("utf-8", "replace")
    parts = urlsplit(target)
    return Request(
        method=head.method.decode("ascii", "replace"),
        path=unquote(parts.path),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={
            name.decode("latin-1"): value.decode("utf-8", "replace")
            for name, value in head.headers
        },
        body=body,
    )

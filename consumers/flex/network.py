"""The network under flexbridge's Flex client: httpcore's connections on plain asyncio.

httpx's connection pool (httpcore) reaches the network through a backend; on asyncio its default
goes through anyio, whose cancel scopes, locks and stream wrappers run on every read and write of
every call. :class:`AsyncioBackend` implements httpcore's documented backend interface
(``httpcore.AsyncNetworkBackend``) on an ``asyncio.Protocol`` instead: a read returns what the
connection already received without awaiting anything, a request's writes reach the transport as
one, TLS is asyncio's own (``loop.start_tls``). Side by side against one local HTTP server, 10,000
calls of flexbridge's transport took about a third less client CPU per call this way
(docs/benchmarks.md).

Errors are httpcore's (``ConnectError``, ``ReadTimeout``, …), which httpx turns into its own, as
with the default backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any

import httpcore

__all__ = ["AsyncioBackend"]

_READ_AHEAD = 256 * 1024  # bytes received and not yet read before the socket stops being read
_HELD_BYTES = 64 * 1024  # bytes of a request held for one write before they are written anyway
_ADDRESSES = {"client_addr": "sockname", "server_addr": "peername"}  # httpcore's names → asyncio's


class _Waiter:
    """One task waiting for something of a connection (data, a drained buffer), within a timeout."""

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        self._future = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._future
        finally:
            self._future = None


class _Connection(asyncio.Protocol):
    """What one connection received (until read), whether it ended, and its flow control."""

    transport: asyncio.Transport  # set by connection_made, before the connection is handed out

    def __init__(self) -> None:
        self.received = bytearray()
        self.ended = False  # the peer's EOF, or the connection lost
        self.error: BaseException | None = None
        self.data = _Waiter()  # a read waiting for data or the end
        self.drained = _Waiter()  # a write waiting for the transport's buffer to drain
        self.writing_paused = False
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a TCP or Unix stream  # noqa: S101
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) > _READ_AHEAD and not self.reading_paused:
            self.reading_paused = True  # a large answer waits in the socket until it is read
            self.transport.pause_reading()
        self.data.wake()

    def eof_received(self) -> bool:
        self.ended = True
        self.data.wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended, self.error = True, exc
        self.data.wake()
        self.drained.wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.drained.wake()


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore writes a request in pieces (its headers, its body, the end of a sized body as an
    empty write) and then reads the answer. The pieces are held and handed to the transport as one
    write at that end (or before the first read, or past :data:`_HELD_BYTES`): one send for a call
    instead of two (one TCP segment when it fits in one), and one wake-up of the server to read it.
    A failure of that write is httpcore's ``WriteError`` / ``WriteTimeout`` wherever it happens."""

    def __init__(self, connection: _Connection) -> None:
        self._c = connection
        self._held: list[bytes] = []  # written by httpcore, not handed to the transport yet
        self._held_bytes = 0
        self._write_timeout: float | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        c = self._c
        if self._held:
            await self._flush()
        while not c.received:
            if c.ended:
                if c.error is not None:
                    raise httpcore.ReadError(_reason(c.error))
                return b""
            try:
                await c.data.wait(timeout)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout("timed out reading from Flex") from exc
        if len(c.received) <= max_bytes:  # the usual case: all of it
            data = bytes(c.received)
            c.received.clear()
        else:
            data = bytes(c.received[:max_bytes])
            del c.received[:max_bytes]
        if c.reading_paused and len(c.received) <= _READ_AHEAD and not c.ended:
            c.reading_paused = False
            c.transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._write_timeout = timeout
        if not buffer:  # h11's end of a body of known length: the request is whole
            return await self._flush()
        self._held.append(buffer)  # a closed connection is found when it is flushed
        self._held_bytes += len(buffer)
        if self._held_bytes > _HELD_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        c, held = self._c, self._held
        if not held:
            return
        self._held, self._held_bytes = [], 0
        if c.ended:
            raise httpcore.WriteError("the connection was closed")
        c.transport.write(held[0] if len(held) == 1 else b"".join(held))
        while c.writing_paused and not c.ended:
            try:
                await c.drained.wait(self._write_timeout)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout("timed out writing to Flex") from exc
        if c.error is not None:
            raise httpcore.WriteError(_reason(c.error))

    async def aclose(self) -> None:
        self._c.transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        c, loop = self._c, asyncio.get_running_loop()
        async with _connecting(timeout, "in the TLS handshake"):  # a failed start_tls closes the transport
            tls = await loop.start_tls(c.transport, c, ssl_context, server_hostname=server_hostname)
        assert isinstance(tls, asyncio.Transport)  # noqa: S101
        c.transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore: an idle connection that is readable has expired
            return bool(self._c.received) or self._c.ended
        return self._c.transport.get_extra_info(_ADDRESSES.get(info, info))  # or ssl_object, socket


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network on asyncio's transports (``AsyncConnectionPool(network_backend=…)``)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        opening = loop.create_connection(_Connection, host, port, local_addr=local)
        connection = await _connect(opening, timeout)
        sock: socket.socket = connection.transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _Stream(connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        return _Stream(await _connect(loop.create_unix_connection(_Connection, path), timeout))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(opening: Awaitable[tuple[Any, Any]], timeout: float | None) -> _Connection:
    async with _connecting(timeout, "connecting to Flex"):
        _, connection = await opening
    assert isinstance(connection, _Connection)  # noqa: S101
    return connection


@contextlib.asynccontextmanager
async def _connecting(timeout: float | None, what: str) -> AsyncIterator[None]:
    """httpcore's errors for a connection being set up (TCP, then TLS): ``ConnectTimeout`` past
    ``timeout``, ``ConnectError`` for an OS error (``ssl.SSLError``, a refused certificate, is one)."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"timed out {what}") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__

"""consumers/flex/network.py over real sockets: HTTP and HTTPS calls, httpcore's errors, idle
connections the server closed, flow control, and through ShardedTransport httpx's own errors; a
request's pieces written as one."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import struct
from pathlib import Path

import httpcore
import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consumers.flex.network import AsyncioBackend, _Connection, _Stream
from consumers.flex.pool import ShardedTransport
from streams.local.procs import free_port
from tests.support import wait_for
from tests.unit.consumers.flex.local_http import echo, request, serve


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_calls_over_http_keep_their_connection() -> None:
    async with serve(echo) as port:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            first = await request(pool, f"http://127.0.0.1:{port}/v1/evaluate", b'{"a": 1}')
            second = await request(pool, f"http://127.0.0.1:{port}/v1/evaluate", b"x" * 100)
            assert (first.status, first.content) == (200, b'{"method": "POST", "bytes": 8, "tls": false}')
            assert second.content == b'{"method": "POST", "bytes": 100, "tls": false}'
            assert len(pool.connections) == 1  # kept alive, used again


async def test_a_body_larger_than_the_socket_buffers_goes_whole() -> None:
    body = bytes(range(256)) * 16 * 1024  # 4 MiB: the transport pauses the writer on the way
    async with serve(echo) as port:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            answer = await request(pool, f"http://127.0.0.1:{port}/", body)
            assert answer.content == b'{"method": "POST", "bytes": %d, "tls": false}' % len(body)


async def test_an_answer_larger_than_one_read_comes_whole() -> None:
    big = bytes(range(256)) * 8 * 1024  # 2 MiB, read 64 KiB at a time by httpcore

    async def large(request: web.Request) -> web.Response:
        return web.Response(body=big)

    async with serve(large) as port:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            assert (await request(pool, f"http://127.0.0.1:{port}/")).content == big


async def test_https_verifies_the_server_certificate(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with serve(echo, server) as port:
        url = f"https://localhost:{port}/v1/transmit"
        backend = AsyncioBackend()
        async with httpcore.AsyncConnectionPool(ssl_context=trusting, network_backend=backend) as pool:
            answer = await request(pool, url, b"{}")
            assert answer.content == b'{"method": "POST", "bytes": 2, "tls": true}'
            assert pool.connections[0].info().startswith("'https://localhost")
        default = ssl.create_default_context()  # the system's CAs: this certificate is no one's
        async with httpcore.AsyncConnectionPool(ssl_context=default, network_backend=backend) as pool:
            with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await request(pool, url, b"{}")


async def test_a_tls_handshake_the_server_never_answers_is_a_connect_timeout_and_closes() -> None:
    closed = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # the ClientHello, never answered, until the client closes
        closed.set()
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            with pytest.raises(httpcore.ConnectTimeout, match="TLS handshake"):
                await pool.request("GET", url, extensions={"timeout": {"connect": 0.2}})
            await asyncio.wait_for(closed.wait(), 5)  # the connection closed, not left open
    finally:
        server.close()
        await server.wait_closed()


async def test_an_idle_connection_the_server_closed_has_expired_and_is_not_used_again() -> None:
    peers: list[int] = []
    close_now = asyncio.Event()

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[1])
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive, then gone
        await writer.drain()
        await close_now.wait()
        writer.close()

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            assert (await pool.request("GET", url)).content == b"ok"
            idle = pool.connections[0]
            assert not idle.has_expired()  # open, nothing to read: kept for the next call
            close_now.set()

            async def expired() -> bool:
                return idle.has_expired()

            await wait_for(expired, 5, "the server's close to reach the client", every=0.01)
            assert (await pool.request("GET", url)).content == b"ok"
            assert pool.connections != [idle]
    finally:
        server.close()
        await server.wait_closed()
    assert len(set(peers)) == 2


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    release = asyncio.Event()

    async def silent(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    async with serve(silent) as port:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            with pytest.raises(httpcore.ReadTimeout):
                await pool.request("GET", f"http://127.0.0.1:{port}/", extensions={"timeout": {"read": 0.2}})
        release.set()


async def test_a_connection_reset_mid_answer_is_a_read_error_as_with_the_default_backend() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # with a zero linger: a TCP reset

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        for backend in (AsyncioBackend(), None):  # None: httpcore's default, for comparison
            async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
                with pytest.raises(httpcore.ReadError):
                    await pool.request("GET", url)
    finally:
        server.close()
        await server.wait_closed()


async def test_through_the_sharded_transport_errors_are_httpx_errors() -> None:
    transport = ShardedTransport(4)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, read=0.2)) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")  # nothing listens there
        release = asyncio.Event()

        async def silent(request: web.Request) -> web.Response:
            await release.wait()
            return web.Response()

        async with serve(silent) as port:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"http://127.0.0.1:{port}/")
            release.set()
        async with serve(echo) as port:
            answer = await http.post(f"http://127.0.0.1:{port}/v1/evaluate", content=b"{}")
            assert answer.json() == {"method": "POST", "bytes": 2, "tls": False}
            assert answer.extensions["network_stream"].get_extra_info("server_addr") == ("127.0.0.1", port)


class _Recorded(asyncio.Transport):
    """A transport that only records its writes and whether its reading is paused (the units below
    need no socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.written: list[bytes] = []

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))


def _recorded_stream() -> tuple[_Connection, _Recorded, _Stream]:
    connection, transport = _Connection(), _Recorded()
    connection.connection_made(transport)
    return connection, transport, _Stream(connection)


async def test_a_request_written_in_pieces_goes_to_the_transport_as_one_write() -> None:
    _, transport, stream = _recorded_stream()
    await stream.write(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    await stream.write(b"{}")
    assert transport.written == []  # held until the request is whole
    await stream.write(b"")  # h11's end of a sized body
    assert transport.written == [b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"]
    await stream.write(b"")
    assert len(transport.written) == 1  # nothing more to write


async def test_what_is_held_is_written_before_a_read_waits_for_the_answer() -> None:
    connection, transport, stream = _recorded_stream()
    await stream.write(b"5\r\nhello\r\n0\r\n\r\n")  # a chunked body's end is no empty write
    assert transport.written == []
    connection.data_received(b"HTTP/1.1 200 OK\r\n")
    assert await stream.read(1024, timeout=5) == b"HTTP/1.1 200 OK\r\n"
    assert transport.written == [b"5\r\nhello\r\n0\r\n\r\n"]  # written by the read, first


async def test_a_large_body_is_written_without_waiting_for_its_end() -> None:
    _, transport, stream = _recorded_stream()
    await stream.write(b"headers")
    await stream.write(b"x" * 64 * 1024)
    assert transport.written == [b"headers" + b"x" * 64 * 1024]  # past 64 KiB held


async def test_a_held_request_on_a_closed_connection_is_a_write_error() -> None:
    connection, transport, stream = _recorded_stream()
    await stream.write(b"GET / HTTP/1.1\r\n\r\n")
    connection.connection_lost(ConnectionResetError("reset by peer"))
    with pytest.raises(httpcore.WriteError):
        await stream.write(b"")
    assert transport.written == []


async def test_an_answer_not_read_yet_stops_the_socket_being_read_beyond_256_kib() -> None:
    connection, transport, stream = _recorded_stream()
    for _ in range(4):
        connection.data_received(b"x" * 64 * 1024)
    assert transport.reading  # 256 KiB waiting: still read
    connection.data_received(b"x")
    assert not transport.reading  # beyond it: the rest waits in the socket
    assert len(await stream.read(64 * 1024)) == 64 * 1024
    assert transport.reading  # read down to 256 KiB again
    assert len(await stream.read(1024 * 1024)) == 192 * 1024 + 1

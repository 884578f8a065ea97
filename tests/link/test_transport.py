"""A serial port that will not open says what to check, from what the path is; a TCP
connection's reads, served from what one receive brought."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loggerd.core.errors import LinkError
from loggerd.link.transport import SerialSettings, SerialTransport, TcpTransport


def test_a_path_that_does_not_exist_is_an_adapter_to_plug_in(tmp_path: Path) -> None:
    with pytest.raises(LinkError) as info:
        SerialTransport(str(tmp_path / "ttyUSB9"), SerialSettings()).open()
    assert "No such port: check that the adapter is plugged in" in str(info.value)


def test_a_file_that_is_no_serial_device_is_said_to_be_one(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a port")
    with pytest.raises(LinkError) as info:
        SerialTransport(str(notes), SerialSettings()).open()
    assert "It is not a serial device: name the adapter's port" in str(info.value)
    assert "plugged in" not in str(info.value)


# --- TCP: one receive serves the reads it holds --------------------------------------------


@pytest.fixture
def peer() -> Iterator[tuple[TcpTransport, socket.socket]]:
    """A TcpTransport connected to a socket the test writes from."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    transport = TcpTransport("127.0.0.1", port, connect_timeout_s=2.0)
    transport.open()
    conn, _ = server.accept()
    server.close()
    try:
        yield transport, conn
    finally:
        transport.close()
        conn.close()


def test_bytes_received_together_are_read_in_pieces_in_order(
    peer: tuple[TcpTransport, socket.socket],
) -> None:
    transport, conn = peer
    conn.sendall(bytes(range(20)))
    deadline = time.monotonic() + 2.0
    assert transport.read_exactly(7, deadline) == bytes(range(7))
    assert transport.read_exactly(13, deadline) == bytes(range(7, 20))


def test_a_reply_in_two_segments_is_read_whole(peer: tuple[TcpTransport, socket.socket]) -> None:
    transport, conn = peer
    conn.sendall(b"abc")
    assert transport.read_exactly(3, time.monotonic() + 2.0) == b"abc"

    def later() -> None:
        conn.sendall(b"de")
        time.sleep(0.05)  # sync-ok: the scenario itself, a reply in two segments apart
        conn.sendall(b"fgh")

    writer = threading.Thread(target=later)
    writer.start()
    assert transport.read_exactly(5, time.monotonic() + 2.0) == b"defgh"
    writer.join()


def test_nothing_before_the_deadline_is_an_empty_read(
    peer: tuple[TcpTransport, socket.socket],
) -> None:
    transport, _ = peer
    assert transport.read_some(10, time.monotonic() + 0.05) == b""
    assert transport.is_open


def test_what_came_unasked_is_discarded_buffered_or_not(
    peer: tuple[TcpTransport, socket.socket],
) -> None:
    transport, conn = peer
    conn.sendall(b"0123456789")
    assert transport.read_exactly(2, time.monotonic() + 2.0) == b"01"  # the rest buffered
    conn.sendall(b"late")
    _wait_readable(transport)
    transport.discard_input()
    conn.sendall(b"ours")
    assert transport.read_exactly(4, time.monotonic() + 2.0) == b"ours"


def test_a_peer_that_closes_is_a_link_error_and_a_closed_transport(
    peer: tuple[TcpTransport, socket.socket],
) -> None:
    transport, conn = peer
    conn.close()
    with pytest.raises(LinkError, match="closed the connection"):
        transport.read_some(1, time.monotonic() + 2.0)
    assert not transport.is_open


def _wait_readable(transport: TcpTransport) -> None:
    sock = transport._sock
    assert sock is not None
    assert select.select([sock], [], [], 2.0)[0], "the bytes sent never arrived"

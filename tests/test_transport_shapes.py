"""Byte shapes servers send a stream in, over real loopback sockets, each timed as it was written.

The emulator writes one whole chunk a token; other servers cut the same stream otherwise: the
chunk's size line on its own, an event spread over two chunks, CRLF line ends, comments, other
fields, or a close-delimited HTTP/1.0 body. Whatever the cut, a token is stamped with the
arrival of the write that completed its event, and every token is counted once.
"""

import socket
import time

import gevent
import pytest
from test_transport_client import send, serve

GAP = 0.04
"""Seconds between the server's tokens (and before the first)."""
PAUSE = 0.02
"""Seconds between the writes of one token, where a shape cuts it into several: a token stamped
by another write than the one completing its event would be off by this much."""


def event(text: str, eol: bytes = b"\n") -> bytes:
    data = b'{"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"},"finish_reason":null}]}'
    return b"data: " + data + eol + eol


FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def writes_one_chunk(text):
    return [chunk(event(text))], 0


def writes_size_line_apart(text):
    body = event(text)
    return [b"%x\r\n" % len(body), body + b"\r\n"], 1


def writes_trailing_crlf_apart(text):
    body = event(text)
    return [b"%x\r\n" % len(body) + body, b"\r\n"], 0


def writes_event_over_two_chunks(text):
    body = event(text)
    return [chunk(body[:-1]), chunk(body[-1:])], 1


def writes_crlf_line_ends(text):
    return [chunk(event(text, b"\r\n"))], 0


def writes_comment_and_fields(text):
    body = event(text).replace(b"data: ", b"event: message\nid: 7\ndata:")
    return [chunk(b": ping\n\n"), chunk(body)], 1


def writes_close_delimited(text):
    return [event(text)], 0


SHAPES = {
    "one chunk a token": (CHUNKED, writes_one_chunk),
    "size line apart": (CHUNKED, writes_size_line_apart),
    "trailing CRLF apart": (CHUNKED, writes_trailing_crlf_apart),
    "event over two chunks": (CHUNKED, writes_event_over_two_chunks),
    "CRLF line ends": (CHUNKED, writes_crlf_line_ends),
    "comment, event and id fields": (CHUNKED, writes_comment_and_fields),
    "HTTP/1.0, close-delimited": (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        writes_close_delimited),
}
"""Shape -> (response head, a token's writes and the index of the one that completes its event)."""


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_token_is_stamped_by_the_write_that_completed_its_event(shape):
    head, cut = SHAPES[shape]
    written: list[float] = []

    def script(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head)
        for text in (" one", " two", " three"):
            gevent.sleep(GAP)
            pieces, completing = cut(text)
            for i, piece in enumerate(pieces):
                if i:
                    gevent.sleep(PAUSE)
                if i == completing:
                    written.append(time.perf_counter())  # before the write: its bytes arrive within it
                sock.sendall(piece)
        sock.sendall(chunk(FINISH) + b"0\r\n\r\n" if head is CHUNKED else FINISH)
        sock.close()

    server = serve(script)
    record, recorder = send(server)
    server.stop()
    assert record.ok, record.error
    assert record.text == " one two three" and len(record.token_times) == 3
    # perf_counter is one clock for the whole machine: the server's write times are the truth.
    for arrived, sent in zip(record.token_times, written, strict=True):
        assert 0 <= arrived - sent < 0.01, (shape, arrived - sent)
    assert [name for name, _ in recorder.calls] == ["first", "token", "token", "done"]

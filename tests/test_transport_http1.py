"""The HTTP/1.1 reader on bytes (framing, one piece per read, the end at [DONE]), then on sockets."""

import time

import gevent
import pytest
from gevent.server import StreamServer
from test_transport_client import CHUNK, FINISH, SSE_HEAD, Recorder, chunk, keep_alive_server

from streaming.record import RequestRecord
from transport.client import ChatClient
from transport.http import StreamingHttp, Target
from transport.http1 import Response, request_head
from transport.wire import ConnectionClosed


class Reads:
    """A connection that returns scripted reads, each with its own arrival time."""

    def __init__(self, *reads):
        self.reads = list(reads)

    def read(self):
        return self.reads.pop(0) if self.reads else (b"", 99.0)

    def push(self, take):
        while not take(*self.read()):
            pass


@pytest.fixture(params=["pull", "push"])
def body_pieces(request):
    """The body as ``(piece, time)``: read piece by piece, or pushed to a sink as reads come."""
    return pulled if request.param == "pull" else pushed


def pushed(response):
    pieces = []
    response.push(lambda piece, t: pieces.append((piece, t)))
    return pieces


def pulled(response):
    pieces = []
    while True:
        piece, t = response.read()
        if not piece:
            return pieces
        pieces.append((piece, t))


def test_a_chunk_split_across_reads_comes_out_when_whole_with_the_later_time(body_pieces):
    wire = SSE_HEAD + chunk(CHUNK) + b"0\r\n\r\n"
    cut = len(SSE_HEAD) + 20
    response = Response(Reads((wire[:cut], 1.0), (wire[cut:], 2.0)))
    response.read_headers()
    assert response.status_code == 200 and response.get("Content-Type") == "text/event-stream"
    pieces = body_pieces(response)
    assert b"".join(p for p, _ in pieces) == CHUNK and pieces[-1][1] == 2.0
    assert response.message_complete and not response.should_close()


def test_every_chunk_of_one_read_is_handed_on_as_one_piece_with_that_reads_time(body_pieces):
    wire = SSE_HEAD + chunk(CHUNK) + chunk(CHUNK) + chunk(CHUNK)
    response = Response(Reads((wire, 5.0), (b"0\r\n\r\n", 6.0)))
    response.read_headers()
    assert body_pieces(response) == [(CHUNK * 3, 5.0)]


def test_reading_stops_at_done_even_if_the_body_stays_open(body_pieces):
    response = Response(Reads((SSE_HEAD + chunk(CHUNK + FINISH), 1.0), (chunk(b": ping\n\n"), 2.0)))
    response.read_headers()
    assert body_pieces(response) == [(CHUNK + FINISH, 1.0)]
    assert response.done_seen and not response.message_complete and response.should_close()


def test_done_split_across_reads_is_seen(body_pieces):
    done = b"data: [DONE]\n\n"
    response = Response(Reads((SSE_HEAD + chunk(CHUNK + done[:7]), 1.0), (chunk(done[7:]), 2.0),
                              (chunk(b"more"), 3.0)))
    response.read_headers()
    assert [t for _, t in body_pieces(response)] == [1.0, 2.0] and response.done_seen


def test_content_length_and_close_delimited_bodies_end_where_their_framing_says():
    fixed = Response(Reads((b"HTTP/1.1 400 Bad\r\nContent-Length: 5\r\n\r\nhel", 1.0), (b"lo", 2.0)))
    fixed.read_headers()
    assert fixed.read_all() == b"hello" and fixed.message_complete and not fixed.should_close()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    until_close = Response(Reads((head + b"data: x\n\n", 1.0)))
    until_close.read_headers()
    assert until_close.read_all() == b"data: x\n\n" and until_close.should_close()


def test_a_body_cut_short_is_a_closed_connection(body_pieces):
    response = Response(Reads((SSE_HEAD + chunk(CHUNK), 1.0)))
    response.read_headers()
    with pytest.raises(ConnectionClosed):
        body_pieces(response)


def test_what_a_pushed_sink_raises_reaches_the_reader_and_nothing_is_pushed_after_it():
    response = Response(Reads((SSE_HEAD + chunk(CHUNK), 1.0), (chunk(CHUNK), 2.0), (b"0\r\n\r\n", 3.0)))
    response.read_headers()
    seen = []

    def sink(piece, t):
        seen.append(t)
        raise ValueError("bad chunk")

    with pytest.raises(ValueError, match="bad chunk"):
        response.push(sink)
    assert seen == [1.0]


def test_request_head_names_the_host_and_length():
    head = request_head("POST", "/v1/chat/completions", "example:8000", {"Accept": "text/event-stream"}, 12)
    assert head == (b"POST /v1/chat/completions HTTP/1.1\r\nHost: example:8000\r\n"
                    b"Accept: text/event-stream\r\nContent-Length: 12\r\n\r\n")


def client_for(server, idle=2.0):
    http = StreamingHttp(Target("http", "127.0.0.1", server.server_port), {}, connect_timeout=2)
    return ChatClient(http, Recorder(), idle_timeout=idle)


def test_a_server_holding_the_body_open_after_done_is_a_success_and_its_connection_is_closed():
    def script(sock, n):
        sock.sendall(SSE_HEAD + chunk(CHUNK + FINISH))
        gevent.sleep(3)  # never ends the chunked body
        return False

    server, served = keep_alive_server(script)
    client = client_for(server)
    started = time.perf_counter()
    first = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    second = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    took = time.perf_counter() - started
    server.stop(timeout=0)
    assert first.ok and second.ok and first.done_marker, (first.error, second.error)
    assert took < 1.0 and len(served) == 2 and not client.http.reused  # each on a fresh connection


def test_a_body_ended_just_after_done_keeps_the_connection():
    def script(sock, n):
        sock.sendall(SSE_HEAD + chunk(CHUNK + FINISH))
        gevent.sleep(0.005)  # as uvicorn: the last chunk of the body in a write of its own
        sock.sendall(b"0\r\n\r\n")

    server, served = keep_alive_server(script)
    client = client_for(server)
    records = [client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text")) for _ in range(3)]
    server.stop()
    assert all(r.ok for r in records) and client.http.reused and len(served) == 3


def test_a_stream_given_up_is_closed_at_once():
    closed_after = []

    def handle(sock, _addr):
        sock.recv(65536)
        sock.sendall(SSE_HEAD + chunk(CHUNK))
        started = time.perf_counter()
        sock.recv(1)  # returns b"" when the client closes
        closed_after.append(time.perf_counter() - started)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    client = client_for(server, idle=0.3)
    record = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    gevent.sleep(0.1)
    server.stop()
    assert record.error == "timeout: no bytes for 0.3 s"
    assert closed_after and closed_after[0] < 0.6  # the idle timeout, plus at most the watchdog's period


def test_a_read_taken_late_keeps_the_kernel_arrival_time():
    sent = []

    def handle(sock, _addr):
        sock.recv(65536)
        sock.sendall(SSE_HEAD)
        gevent.sleep(0.05)
        sent.append(time.perf_counter())
        sock.sendall(chunk(CHUNK + FINISH) + b"0\r\n\r\n")

    def busy():
        gevent.sleep(0.03)
        time.sleep(0.1)  # holds the loop while the token arrives

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    gevent.spawn(busy)
    http = StreamingHttp(Target("http", "127.0.0.1", server.server_port), {})
    client = ChatClient(http, Recorder())
    record = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    server.stop()
    if not http.socket.kernel_stamps:
        pytest.skip("no SO_TIMESTAMPNS on this platform")
    assert record.ok and record.t_first - sent[0] == pytest.approx(0, abs=0.01)


@pytest.mark.parametrize("pushing, paced", [([1, 0], True), ([1, 1], False), ([0, 0], False)])
def test_polls_are_paced_only_while_every_streaming_body_has_kernel_stamps(monkeypatch, pushing, paced):
    from transport import wire

    waits = []
    monkeypatch.setattr(wire, "_sleep", waits.append)
    monkeypatch.setattr(wire, "_pushing", pushing)
    monkeypatch.setattr(wire, "_collector", [None, time.perf_counter()])
    wire._pace()
    assert bool(waits) == paced
    assert all(0 < wait <= wire.COLLECT_INTERVAL for wait in waits)


def test_a_stream_read_through_paced_polls_keeps_each_tokens_arrival():
    """Tokens written 5 ms apart by a real server, read while polls are paced: one read and
    one distinct stamp each, gaps as written (a wake-up collects reads, never merges them)."""
    gaps = []

    def handle(sock, _):
        sock.recv(65536)
        sock.sendall(SSE_HEAD)
        for _ in range(6):
            gevent.sleep(0.005)
            sock.sendall(chunk(CHUNK))
        sock.sendall(chunk(FINISH) + b"0\r\n\r\n")

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    try:
        recorder = Recorder()
        client = ChatClient(StreamingHttp(Target("http", "127.0.0.1", server.server_port), {}), recorder)
        record = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
        times = list(record.token_times)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    finally:
        server.stop()
    assert record.ok and len(times) == 6
    assert all(gap > 0.002 for gap in gaps)

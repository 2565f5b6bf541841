"""The chat client over real loopback sockets, against a scripted gevent server."""

import socket

import gevent
import pytest
from gevent.server import StreamServer

from streaming.record import RequestRecord
from transport.client import ChatClient, RetryPolicy
from transport.http import StreamingHttp, Target

CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":" hi"},"finish_reason":null}]}\n\n'
FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n'
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Recorder:
    """A reporter that keeps what it is told."""

    def __init__(self):
        self.calls = []

    def first_token(self, record, ttft):
        self.calls.append(("first", ttft))

    def token(self, record, gap):
        self.calls.append(("token", gap))

    def done(self, record):
        self.calls.append(("done", record))


def serve(script):
    """Start a loopback server whose handler is ``script(sock)`` after reading the request."""

    def handle(sock, _addr):
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += sock.recv(65536)
        script(sock)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server


def send(server_or_port, idle=5.0, first=None, total=None):
    port = server_or_port if isinstance(server_or_port, int) else server_or_port.server_port
    recorder = Recorder()
    http = StreamingHttp(Target("http", "127.0.0.1", port), {}, connect_timeout=2)
    client = ChatClient(http, recorder, first_token_timeout=first, total_timeout=total, idle_timeout=idle)
    record = client.send("/v1/chat/completions", {"stream": True, "max_tokens": 3}, RequestRecord("text"))
    assert [c[0] for c in recorder.calls].count("done") == 1
    return record, recorder


def test_tokens_are_stamped_when_they_arrive():
    def script(sock):
        sock.sendall(SSE_HEAD)
        for _ in range(3):
            gevent.sleep(0.05)
            sock.sendall(chunk(CHUNK))
        sock.sendall(chunk(FINISH) + b"0\r\n\r\n")

    server = serve(script)
    record, recorder = send(server)
    server.stop()
    assert record.ok, record.error
    assert record.ttft == pytest.approx(0.05, abs=0.025)
    assert record.itls() == pytest.approx([0.05, 0.05], abs=0.025)
    assert [c[0] for c in recorder.calls] == ["first", "token", "token", "done"]
    assert record.output_tokens == 3 and record.output_tokens_source == "chunks"


def test_connection_cut_mid_stream_is_one_classified_failure():
    def script(sock):
        sock.sendall(SSE_HEAD + chunk(CHUNK))
        gevent.sleep(0.02)
        sock.close()

    server = serve(script)
    record, _ = send(server)
    server.stop()
    assert record.error == "connection closed mid-response"
    assert len(record.token_times) == 1


def test_html_answer_is_a_classified_failure():
    page = b"<html>bad gateway</html>"

    def script(sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(page), page))

    server = serve(script)
    record, _ = send(server)
    server.stop()
    assert record.error == "expected text/event-stream, got text/html"


def test_refused_connection_is_a_classified_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    record, _ = send(port)
    assert record.error == f"connection refused: http://127.0.0.1:{port}"


def test_stall_longer_than_idle_timeout_fails():
    def script(sock):
        sock.sendall(SSE_HEAD + chunk(CHUNK))
        gevent.sleep(2)

    server = serve(script)
    record, _ = send(server, idle=0.3)
    server.stop()
    assert record.error == "timeout: no bytes for 0.3 s"
    # the watchdog looks every 0.1 s: cancelled 0.3 to 0.4 s in, plus a wake-up
    assert 0.3 <= record.e2e <= 0.45


def test_first_token_timeout_fails_a_slow_first_token():
    def script(sock):
        sock.sendall(SSE_HEAD)
        gevent.sleep(1)

    server = serve(script)
    record, _ = send(server, first=0.2)
    server.stop()
    assert record.error == "timeout: no first token within 0.2 s"


def test_connection_is_replaced_after_a_body_left_unread():
    calls = []

    def script(sock):
        calls.append(1)
        if len(calls) == 1:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n")
            sock.sendall(chunk(b"<html>"))
            gevent.sleep(0.2)
            return
        sock.sendall(SSE_HEAD + chunk(CHUNK + FINISH) + b"0\r\n\r\n")

    server = serve(script)
    recorder = Recorder()
    http = StreamingHttp(Target("http", "127.0.0.1", server.server_port), {})
    client = ChatClient(http, recorder, idle_timeout=2)
    first = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    second = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    server.stop()
    assert first.error.startswith("expected text/event-stream") and second.ok


def test_429_is_retried_after_retry_after_and_counted_apart():
    calls = []

    def script(sock):
        calls.append(1)
        if len(calls) == 1:
            body = b'{"error":{"message":"slow down","code":429}}'
            sock.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                         b"Retry-After: 0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        sock.sendall(SSE_HEAD + chunk(CHUNK + FINISH) + b"0\r\n\r\n")

    server = serve(script)
    recorder = Recorder()
    recorder.retried = lambda record: recorder.calls.append(("retried", record))
    http = StreamingHttp(Target("http", "127.0.0.1", server.server_port), {})
    client = ChatClient(http, recorder, retry=RetryPolicy(retries=2))
    record = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    server.stop()
    kinds = [c[0] for c in recorder.calls]
    assert kinds == ["retried", "first", "done"]
    assert recorder.calls[0][1].error == "HTTP 429: slow down" and recorder.calls[0][1].retry_after == 0
    assert record.ok and record.attempts == 2


def test_without_a_retry_policy_a_429_is_one_failure():
    def script(sock):
        sock.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")

    server = serve(script)
    record, recorder = send(server)
    server.stop()
    assert record.error == "HTTP 429" and [c[0] for c in recorder.calls] == ["done"]


def test_total_timeout_fails_a_stream_that_keeps_trickling():
    def script(sock):
        sock.sendall(SSE_HEAD)
        for _ in range(20):
            sock.sendall(chunk(CHUNK))
            gevent.sleep(0.05)

    server = serve(script)
    record, recorder = send(server, idle=5.0, total=0.3)
    server.stop()
    assert record.error == "timeout: request took over 0.3 s"
    assert record.e2e == pytest.approx(0.3, abs=0.1) and len(record.token_times) >= 3


def keep_alive_server(script):
    """A loopback server that answers every request of a connection with ``script(sock, n)``
    (n counts requests across connections) until the script returns False."""
    served = []

    def handle(sock, _addr):
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                data = sock.recv(65536)
                if not data:
                    return
                buffered += data
            head, _, rest = buffered.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += sock.recv(65536)
            buffered = rest[length:]
            served.append(1)
            if script(sock, len(served)) is False:
                return

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server, served


KEEP_ALIVE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                   b"Keep-Alive: timeout=5, max=100\r\n\r\n")


def client_for(server, recorder=None):
    http = StreamingHttp(Target("http", "127.0.0.1", server.server_port), {}, connect_timeout=2)
    return ChatClient(http, recorder or Recorder(), idle_timeout=2)


def test_a_pooled_connection_the_server_closed_is_replaced_before_reuse():
    def script(sock, n):
        sock.sendall(KEEP_ALIVE_HEAD + chunk(CHUNK + FINISH) + b"0\r\n\r\n")
        return False  # as llama-server: close after the stream, despite Keep-Alive

    server, served = keep_alive_server(script)
    client = client_for(server)
    records = []
    for _ in range(3):
        records.append(client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text")))
        gevent.sleep(0.02)  # the server's FIN is in before the next request: the check sees it
    server.stop()
    assert all(r.ok and not r.resent for r in records), [r.error for r in records]
    assert client.http.dropped == 2 and len(served) == 3


def test_a_request_on_a_reused_connection_closed_unanswered_is_sent_once_more():
    def script(sock, n):
        if n == 2:
            sock.close()  # read the request, then closed without a byte: it was not answered
            return False
        sock.sendall(KEEP_ALIVE_HEAD + chunk(CHUNK + FINISH) + b"0\r\n\r\n")
        return None

    server, served = keep_alive_server(script)
    recorder = Recorder()
    client = client_for(server, recorder)
    first = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    second = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    server.stop()
    assert first.ok and not first.resent
    assert second.ok and second.resent and second.attempts == 1
    assert [c[0] for c in recorder.calls].count("done") == 2
    assert len(served) == 3  # the unanswered request, then its resend on a fresh connection
    assert second.t_start > first.t_end and second.ttft < 0.5


def test_a_reused_connection_closed_after_response_bytes_stays_a_failure():
    def script(sock, n):
        if n == 2:
            sock.sendall(KEEP_ALIVE_HEAD + chunk(CHUNK))
            sock.close()
            return False
        sock.sendall(KEEP_ALIVE_HEAD + chunk(CHUNK + FINISH) + b"0\r\n\r\n")
        return None

    server, served = keep_alive_server(script)
    client = client_for(server)
    client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    second = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    server.stop()
    assert second.error == "connection closed mid-response" and not second.resent
    assert len(served) == 2


def test_a_fresh_connection_closed_unanswered_is_one_failure_not_mid_response():
    def script(sock):
        sock.close()

    server = serve(script)
    record, _ = send(server)
    server.stop()
    assert record.error == "connection closed before the response" and not record.resent


def test_a_resend_that_fails_again_is_counted_once():
    def script(sock, n):
        if n == 1:
            sock.sendall(KEEP_ALIVE_HEAD + chunk(CHUNK + FINISH) + b"0\r\n\r\n")
            return None
        sock.close()
        return False

    server, served = keep_alive_server(script)
    recorder = Recorder()
    client = client_for(server, recorder)
    client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    second = client.send("/v1/chat/completions", {"stream": True}, RequestRecord("text"))
    server.stop()
    assert second.error == "connection closed before the response" and second.resent
    assert len(served) == 3 and [c[0] for c in recorder.calls].count("done") == 2

"""One TCP or TLS connection on public APIs: a stdlib socket, gevent's waits, the kernel's arrival stamps.

Reads are pushed, not pulled. While a response is read, a gevent I/O watcher on the socket runs
:meth:`Connection._on_readable` in the hub the moment bytes are in: one ``recvmsg`` (whatever
the kernel holds, never waiting for a buffer to fill), stamped with the kernel's arrival time
(``SO_TIMESTAMPNS``), and handed to the reading greenlet by a direct switch (:meth:`read`), or,
for a streamed body, to the reader's own code, run in the hub (:meth:`push`). A greenlet that
waits on a socket the usual way (gevent's ``recv``) pays a failed ``recv``, a watcher started
and stopped and two switches through the hub on every token; measured on this 2-core machine
against a server writing each token on its own 7 ms apart, 256 streams, bare reads: 13.8 µs a
read that way, 10.2 µs this way.

A read that comes late is still stamped right, with one limit: TCP merges a segment into the
one still queued before it, and the merged bytes carry the later arrival (measured: four
200-byte writes 5 ms apart, read 20 ms later, all four stamped with the last one). So the
reader must be cheap enough to be on time; the stamp cannot repair a read that is later than
the next token. That is also what bounds :data:`COLLECT_INTERVAL`, the pause the loop takes
between polls while stamped bodies stream, so that one wake-up reads many streams' tokens.

TLS goes through :class:`ssl.SSLObject` over memory buffers, so its reads are the same raw
``recvmsg`` and keep the kernel's stamps (an ``SSLSocket`` has no ancillary data).
"""

from __future__ import annotations

import errno
import socket
import ssl
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from time import perf_counter

from gevent import get_hub, getcurrent, monkey
from gevent.socket import getaddrinfo, wait_read, wait_write

SO_TIMESTAMPNS = 35  # Linux (x86-64, arm64): the kernel stamps each packet's arrival; SCM_TIMESTAMPNS too
_TIMESPEC = struct.Struct("qq")
_TIMESPEC_SIZE = _TIMESPEC.size
_unpack_timespec = _TIMESPEC.unpack_from
_SOL_SOCKET = socket.SOL_SOCKET
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
READ_SIZE = 262144
"""Bytes a read may take: everything a burst left in the kernel, in one call."""
_BUFFER = memoryview(bytearray(READ_SIZE))
_BUFFERS = (_BUFFER,)
"""Where every read lands before its bytes are copied out: reads run one at a time, in the hub.
``recvmsg(262144)`` made a fresh 256 KiB object each time, which glibc maps and unmaps: three
system calls a read (mmap, mremap, munmap; strace) and half the client's system time."""
_QUEUE_LIMIT = 256
"""Reads held for a greenlet busy elsewhere before the socket is left unread (TCP then pushes back)."""
_READ = 1
_socket_class = monkey.get_original("socket", "socket")  # the stdlib class, even under patch_all
_poll = monkey.get_original("select", "poll")


class ConnectionClosed(Exception):  # noqa: N818 - named after what happened, as ConnectionResetError
    """The peer closed the connection before the response was complete."""


class Connection:
    """A connected socket (TLS optional) that stamps each read with its bytes' arrival time.

    ``sent`` is ``perf_counter()`` when the current request's first byte was handed to the
    kernel (after any connect and handshake); ``received`` counts the raw bytes read since.
    """

    __slots__ = ("sock", "_fd", "_tls", "_incoming", "_outgoing", "_stamps", "_watcher", "_queue",
                 "_waiter", "_push", "_hub", "_paused", "_wake_pending", "_offset", "sent", "received",
                 "closed", "tls_version", "local_port")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._fd = sock.fileno()
        self._tls: ssl.SSLObject | None = None
        self._incoming = self._outgoing = None
        self._stamps = False
        if _ANCILLARY and sys.platform.startswith("linux"):
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self._stamps = True
            except OSError:
                pass
        self._hub = get_hub()
        self._watcher = self._hub.loop.io(self._fd, _READ)
        self._paused = False
        self._wake_pending = False
        self._queue: deque = deque()
        self._waiter = None
        self._push: Callable[[bytes, float], bool] | None = None
        self._offset = 0.0
        self.sent = 0.0
        self.received = 0
        self.closed = False
        self.tls_version = ""
        self.local_port: int = sock.getsockname()[1]
        """This end's port: what a packet capture names the connection by."""

    @property
    def kernel_stamps(self) -> bool:
        """True when reads carry the kernel's arrival time (Linux), else the time the read ran."""
        return self._stamps

    # -- connecting -------------------------------------------------------------------------------
    @classmethod
    def open(cls, host: str, port: int, timeout: float, context: ssl.SSLContext | None = None) -> Connection:
        """Connect to ``host:port`` (each address in turn), then the TLS handshake when ``context``.

        ``TimeoutError`` past ``timeout`` seconds for either; ``ConnectionRefusedError`` and other
        ``OSError`` as the kernel says; :class:`ssl.SSLError` from the handshake.
        """
        error: OSError | None = None
        for family, kind, proto, _, address in getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            sock = _socket_class(family, kind, proto)
            try:
                _connect(sock, address, timeout)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            conn = cls(sock)
            try:
                if context is not None:
                    conn._handshake(context, host, timeout)
            except BaseException:
                conn.close()
                raise
            return conn
        raise error or OSError(f"cannot resolve {host}")

    def _handshake(self, context: ssl.SSLContext, host: str, timeout: float) -> None:
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        deadline = perf_counter() + timeout
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                left = deadline - perf_counter()
                if left <= 0:
                    raise TimeoutError("TLS handshake timed out") from None
                wait_read(self._fd, timeout=left, timeout_exc=TimeoutError("TLS handshake timed out"))
                data = self.sock.recv(READ_SIZE)
                if not data:
                    raise ConnectionClosed("closed during the TLS handshake") from None
                self._incoming.write(data)
        self._flush()
        self.tls_version = self._tls.version() or ""

    # -- sending ----------------------------------------------------------------------------------
    def send_request(self, data: bytes) -> None:
        """Send a whole request; ``sent`` is stamped just before its first byte goes to the kernel."""
        self.received = 0
        if self._tls is not None:
            self._tls.write(data)
            data = self._outgoing.read()
        self.sent = perf_counter()
        self._send_all(data)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._send_all(data)

    def _send_all(self, data: bytes) -> None:
        view = memoryview(data)
        send = self.sock.send
        while view:
            try:
                view = view[send(view):]
            except BlockingIOError:
                wait_write(self._fd)

    # -- reading ----------------------------------------------------------------------------------
    def start_reading(self) -> None:
        """Watch the socket: from now on every read is taken in the hub as soon as it can be."""
        self._offset = time.time() - perf_counter()
        if not self._watcher.active:
            self._watcher.start(self._on_readable)

    def stop_reading(self) -> None:
        self._watcher.stop()
        self._paused = False
        self._queue.clear()

    def read(self) -> tuple[bytes, float]:
        """The next read's bytes (``b""`` at the end) and their arrival time (``perf_counter`` scale).

        Raises what the read raised (a reset, a TLS error). Waits in the hub; a throw into this
        greenlet (a request's cancellation) ends the wait.
        """
        if self._queue:
            item = self._next_queued()
        else:
            self._waiter = getcurrent()
            try:
                item = self._hub.switch()
            finally:
                self._waiter = None
        if type(item) is tuple:
            return item
        raise item

    def _on_readable(self) -> None:  # noqa: C901 - the per-token path, kept flat on purpose
        """In the hub: one read, stamped, handed to the waiting greenlet (or queued for it).

        The per-token path of the whole tool: kept flat (no helper calls on the plain-TCP path).
        """
        try:
            if self._stamps:
                size, ancillary, _, _ = self.sock.recvmsg_into(_BUFFERS, _ANCILLARY)
            else:
                size, ancillary = self.sock.recv_into(_BUFFER), ()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._watcher.stop()
            self._deliver(exc)
            return
        now = perf_counter()
        data = _BUFFER[:size].tobytes()
        stamp = now
        if ancillary:
            level, kind, payload = ancillary[0]
            if kind == SO_TIMESTAMPNS and level == _SOL_SOCKET and len(payload) >= _TIMESPEC_SIZE:
                seconds, nanos = _unpack_timespec(payload)
                stamp = seconds + nanos * 1e-9 - self._offset
                if stamp > now:
                    stamp = now
        self.received += size
        if not size:
            self._watcher.stop()
        if self._tls is not None:
            data = self._decrypt(data)
            if data is None:
                return
            if type(data) is not bytes:
                self._watcher.stop()
                self._deliver(data)
                return
        if self._push is not None and not self._queue:
            if not _ready:
                self._hub.loop.run_callback(_hand_on)
            _ready.append((self, data, stamp))
            return
        self._deliver((data, stamp))

    def _decrypt(self, raw: bytes) -> bytes | BaseException | None:
        """Plain bytes from a TLS read: ``None`` while a record is incomplete, ``b""`` at the end."""
        if raw:
            self._incoming.write(raw)
        else:
            self._incoming.write_eof()
        parts = []
        read = self._tls.read
        try:
            while True:
                part = read(READ_SIZE)
                if not part:
                    break
                parts.append(part)
        except ssl.SSLWantReadError:
            if not parts:
                return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            if not parts:
                return b""
        except ssl.SSLError as exc:
            return exc
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def _deliver(self, item: object) -> None:
        """Queue ``item``; wake the reader once this loop turn has read every socket that is ready.

        When many streams get a token at once (a server's decode step feeds every running
        request together), reading and parsing each socket in turn stamped the last ones late:
        measured at 256 streams, 1-2 % of first tokens were read after the next token had come
        and merged with it (TTFT error p99 +10 ms against the wire). Reads first, parsing after.
        """
        queue = self._queue
        queue.append(item)
        if self._waiter is not None and not self._wake_pending:
            self._wake_pending = True
            if not _ready:
                self._hub.loop.run_callback(_hand_on)
            _ready.append((self, None, 0.0))
        if len(queue) >= _QUEUE_LIMIT and self._watcher.active:
            self._paused = True
            self._watcher.stop()

    def push(self, take: Callable[[bytes, float], bool]) -> None:
        """Hand every read, its bytes and their arrival time, to ``take`` until it returns True.

        Reads already queued go first, here; later ones are handed on in the hub as they come
        in, after every socket ready in that loop turn is read, and this greenlet sleeps until
        ``take`` says the body is over. So a token costs no switch to the reader and back
        (measured at 256 streams of one token a write: 18.1 µs of client CPU a token, against
        20.3 µs when each read was pulled). Raises what the read or ``take`` raised; a throw into this
        greenlet (a request's cancellation) ends the wait and no read is handed on after it.
        """
        queue = self._queue
        while queue:
            item = self._next_queued()
            if type(item) is not tuple:
                raise item
            if take(*item):
                return
        self._push, self._waiter = take, getcurrent()
        kind = 0 if self._stamps else 1
        _pushing[kind] += 1
        _collect_reads(self._hub.loop)
        try:
            failure = self._hub.switch()
        finally:
            _pushing[kind] -= 1
            self._push = self._waiter = None
        if failure is not None:
            raise failure

    def _next_queued(self) -> object:
        item = self._queue.popleft()
        if self._paused and len(self._queue) < _QUEUE_LIMIT // 2:
            self._paused = False
            self._watcher.start(self._on_readable)
        return item

    def _wake(self) -> None:
        """In the hub: hand the reader its next read (or a pushing reader every read queued)."""
        self._wake_pending = False
        waiter = self._waiter
        if waiter is None or not self._queue:
            return
        if self._push is None:
            self._waiter = None
            waiter.switch(self._queue.popleft())
            return
        while self._queue:
            item = self._next_queued()
            if type(item) is not tuple:
                self._end_push(item)
                return
            if self._hand(*item):
                return

    def _hand(self, data: bytes, t: float) -> bool:
        """In the hub, while pushing: one read to the reader's ``take``; True once that ended the push."""
        try:
            if not self._push(data, t):
                return False
            failure = None
        except Exception as exc:  # noqa: BLE001 - raised in the reader, not in the hub
            failure = exc
        self._end_push(failure)
        return True

    def _end_push(self, failure: BaseException | None) -> None:
        """Wake the pushing reader: its body is over (``None``) or ``failure`` ended it."""
        waiter = self._waiter
        self._push = self._waiter = None
        waiter.switch(failure)

    # -- state ------------------------------------------------------------------------------------
    def closed_by_peer(self) -> bool:
        """True when this idle connection cannot carry another request.

        An idle kept-alive socket has nothing to read; readable means the server closed it (EOF),
        reset it, or sent bytes no request asked for. A zero-timeout ``poll`` never blocks, and is
        what urllib3's ``is_connection_dropped`` does.
        """
        if self.closed or (self._tls is not None and self._tls.pending()):
            return True
        try:
            poller = _poll()
            poller.register(self._fd, 0x001 | 0x002)  # POLLIN | POLLPRI
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        """Close now (a stream given up is closed at once, not when collected)."""
        if self.closed:
            return
        self.closed = True
        self._watcher.stop()
        self._watcher.close()
        self._queue.clear()
        self.sock.close()


COLLECT_INTERVAL = 0.001
"""Seconds the event loop lets pass between its polls while bodies stream with kernel stamps.

Each wake-up of a sleeping process costs more than the read it is for: measured on this
2-core VM against a server writing each token on its own 7 ms apart, 44 µs of client CPU a
token at 64 streams, where nearly every token woke the loop on its own, against 25 µs at 256
streams, where several shared a wake-up. So before it polls, the loop waits out what is left
of this interval since its last poll (libev's io collect interval, which gevent does not
expose), and one wake-up reads every token that came meanwhile. The kernel stamped each
segment as it arrived, so no time is lost; only a stream's two segments inside one interval
would merge into one read (a server writing tokens under 1 ms apart). Without kernel stamps
(another OS) a read's time is when it ran, so the loop does not wait while such a body streams.
"""
_pushing = [0, 0]
"""Connections pushing a body now: with kernel stamps, without."""
_collector: list = [None, 0.0]
"""The prepare watcher that paces the polls (and its loop), and when the last poll began."""
_sleep = monkey.get_original("time", "sleep")


def _collect_reads(loop: object) -> None:
    """Start pacing ``loop``'s polls (once a loop)."""
    if _collector[0] is None or _collector[0].loop is not loop:
        watcher = loop.prepare()
        watcher.ref = False  # pacing polls never keeps a loop running
        watcher.start(_pace)
        _collector[0] = watcher


def _pace() -> None:
    """Just before the loop polls: wait out the collect interval while stamped bodies stream."""
    now = perf_counter()
    if _pushing[0] and not _pushing[1]:
        wait = _collector[1] + COLLECT_INTERVAL - now
        if wait > 0:
            _sleep(wait)
            now += wait
    _collector[1] = now


_ready: list[tuple[Connection, bytes | None, float]] = []
"""What this loop turn's reads hand on, by one callback once every ready socket is read: a
pushed read, ``(connection, bytes, arrival)``, or ``(connection, None, 0.0)`` to wake a reader."""


def _hand_on() -> None:
    batch = _ready[:]
    _ready.clear()
    for conn, data, t in batch:
        if data is None:
            conn._wake()
        elif conn._push is None:  # the reader stopped pushing after this read came in: it reads it next
            conn._deliver((data, t))
        else:
            conn._hand(data, t)


def _connect(sock: socket.socket, address: tuple, timeout: float) -> None:
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
        wait_write(sock.fileno(), timeout=timeout, timeout_exc=TimeoutError("connect timed out"))
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, f"{errno.errorcode.get(code, code)}: {address[0]}:{address[1]}")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

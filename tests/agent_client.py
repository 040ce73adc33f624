"""A minimal host-side client of the guest agent (docs/protocol.md), for the
tests: CONNECT through the hybrid socket, read HELLO, send EXEC, relay."""
import base64
import socket
import struct
import time

HELLO, STDIN, STDOUT, STDERR, EXIT, SIGNAL, WINSIZE, BYE, LOG, TRACE, EXEC, SHUTDOWN = range(1, 13)
AGENT_PORT = 5252


def frame(kind, payload=b""):
    return struct.pack("<BBHI", kind, 0, 0, len(payload)) + payload


def connect(uds, port=AGENT_PORT, deadline=None):
    """Returns a socket past the OK line, retrying until the guest listens."""
    deadline = deadline or time.monotonic() + 60
    while True:
        c = socket.socket(socket.AF_UNIX)
        try:
            c.connect(uds)
            c.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                d = c.recv(1)
                if not d:
                    break
                line += d
            if line.startswith(b"OK "):
                return c
        except OSError:
            pass
        c.close()
        if time.monotonic() > deadline:
            raise AssertionError("the agent never answered on %s" % uds)
        time.sleep(0.1)


class Frames:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self):
        while True:
            if len(self.buf) >= 8:
                kind, _, _, n = struct.unpack("<BBHI", self.buf[:8])
                if len(self.buf) >= 8 + n:
                    payload = self.buf[8:8 + n]
                    self.buf = self.buf[8 + n:]
                    return kind, payload
            d = self.sock.recv(1 << 16)
            if not d:
                return None, b""
            self.buf += d


def b64list(items):
    return base64.b64encode(b"".join(i.encode() + b"\0" for i in items)).decode()


def exec_command(uds, argv, stdin=None, timeout=60, traces=None):
    """Runs argv through the agent; returns (status, stdout, stderr). TRACE
    payloads (the agent's clock check) are appended to traces if given."""
    c = connect(uds)
    c.settimeout(timeout)
    frames = Frames(c)
    kind, payload = frames.next()
    assert kind == HELLO and struct.unpack("<I", payload)[0] == 2, (kind, payload)
    keys = "wisp.cmd=" + b64list(argv)
    if stdin is not None:
        keys += " wisp.stdin=1"
    c.sendall(frame(EXEC, keys.encode()))
    if stdin is not None:
        for i in range(0, len(stdin), 32768):
            c.sendall(frame(STDIN, stdin[i:i + 32768]))
        c.sendall(frame(STDIN))
    out, err = b"", b""
    while True:
        kind, payload = frames.next()
        if kind is None:
            raise AssertionError("the agent closed without EXIT")
        if kind == STDOUT:
            out += payload
        elif kind == STDERR:
            err += payload
        elif kind == TRACE and traces is not None:
            traces.append(payload)
        elif kind == EXIT:
            how, value = payload[0], struct.unpack("<i", payload[4:8])[0]
            c.close()
            return (value if how == 0 else 128 + value), out, err

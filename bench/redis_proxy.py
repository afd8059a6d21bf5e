"""A TCP proxy to Redis that counts round trips and the commands clients send (bench)."""

from __future__ import annotations

import collections
import socket
import threading


class CountingProxy:
    """TCP proxy to Redis counting round trips and the commands clients send.

    A round trip is counted each time a client sends after Redis last spoke on that
    connection (or for the first time): a pipeline of three commands written at once is one
    round trip, three commands each awaiting its reply are three.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.round_trips = 0
        self.connections = 0
        self.commands: collections.Counter[str] = collections.Counter()
        self.sockets: list[socket.socket] = []
        self.closed = False

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> tuple[int, collections.Counter[str], int]:
        with self.lock:
            return self.round_trips, collections.Counter(self.commands), self.connections

    def close(self) -> None:
        self.closed = True
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self.lock:
                self.connections += 1
                self.sockets += [client, upstream]
            state = {"last": "", "buf": b""}
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up, state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool, state: dict) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:  # before forwarding: the other side cannot answer earlier
                    if up:
                        if state["last"] != "up":
                            self.round_trips += 1
                        state["buf"] = self._count(state["buf"] + data)
                    state["last"] = "up" if up else "down"
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _count(self, buf: bytes) -> bytes:
        """Count the complete RESP commands (arrays of bulk strings) in buf; keep the rest."""
        while buf:
            end = buf.find(b"\r\n")
            if end < 0 or buf[:1] != b"*":
                return buf
            pos, name = end + 2, ""
            for i in range(int(buf[1:end])):
                e = buf.find(b"\r\n", pos)
                if e < 0:
                    return buf
                start = e + 2
                stop = start + int(buf[pos + 1 : e])
                if len(buf) < stop + 2:
                    return buf
                if i == 0:
                    name = buf[start:stop].decode(errors="replace").lower()
                pos = stop + 2
            self.commands[name] += 1
            buf = buf[pos:]
        return buf


def commandstats(client) -> collections.Counter[str]:
    return collections.Counter(
        {k.removeprefix("cmdstat_"): v["calls"] for k, v in client.info("commandstats").items()}
    )


def per_request(counter: collections.Counter[str], n: int) -> str:
    return ", ".join(f"{name} {calls / n:g}" for name, calls in sorted(counter.items()))

"""A TCP proxy with a switchable delay on the answers, run in the test's event loop."""

import asyncio
import contextlib
import time

__all__ = ["DelayProxy"]


class DelayProxy:
    """A TCP proxy from 127.0.0.1:`port` to `target`, in this process's event loop.

    While `delay` > 0, every chunk from the server to the client is held back `delay` seconds
    from its arrival: a delay line per connection (chunks keep their order and are not
    serialised behind each other's waits), so kept-alive connections are slowed as much as new
    ones. Client-to-server bytes always pass at once: the server gets, and commits, every
    request in time; only its answer is late.
    """

    def __init__(self, target_host: str, target_port: int, *more_ports: int) -> None:
        self.target = (target_host, target_port)
        # With more ports (tests/faults/test_replicas.py), each new connection goes to the
        # next target in turn: a round-robin balancer in front of a service's instances.
        self.targets = [(target_host, port) for port in (target_port, *more_ports)]
        self.connections = 0
        self.delay = 0.0
        self.port = 0
        self.delayed_chunks = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        first = self.connections
        self.connections += 1
        for attempt in range(len(self.targets)):  # a target that refuses: the next one
            try:
                target = self.targets[(first + attempt) % len(self.targets)]
                up_reader, up_writer = await asyncio.open_connection(*target)
                break
            except OSError:
                continue
        else:
            client_writer.close()
            return
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._upstream(client_reader, up_writer)),
            asyncio.create_task(self._read_down(up_reader, queue)),
            asyncio.create_task(self._write_down(queue, client_writer)),
        ]
        try:
            # Done when the server's side ended and all it sent was delivered (a client that
            # leaves half-closes the server's side), or the client can no longer be written to.
            await tasks[2]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for stream in (up_writer, client_writer):
                stream.close()

    async def _upstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

    async def _read_down(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes] | None]
    ) -> None:
        try:
            while data := await reader.read(65536):
                delay = self.delay
                if delay > 0:
                    self.delayed_chunks += 1
                await queue.put((time.monotonic() + delay, data))
        except OSError:
            pass
        await queue.put(None)  # the writer delivers what is queued, then ends

    async def _write_down(
        self, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError):
            while (item := await queue.get()) is not None:
                due, data = item
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

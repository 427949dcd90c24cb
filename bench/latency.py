"""A TCP proxy that delays every answer: the emulator answers in a millisecond, Firestore in tens of them.

`python -m bench.latency LISTEN_PORT TARGET_PORT DELAY_MS` (on 127.0.0.1). Data from the target is passed on
`DELAY_MS` after it arrived, in order and without holding up what follows, so that a gRPC connection carrying many
requests at once sees each answer that much later, as from a database in another building.
"""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(forward())
    while data := await reader.read(65536):
        queue.put_nowait((loop.time() + delay, data))
    queue.put_nowait((0.0, b""))
    await sender


async def main(listen: int, target: int, delay: float) -> None:
    async def connect(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(_pipe(client_reader, server_writer, 0.0), _pipe(server_reader, client_writer, delay))

    server = await asyncio.start_server(connect, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000))

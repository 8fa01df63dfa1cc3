"""The ASGI lifespan protocol, which Django's ASGI handler does not speak: at the server's shutdown, the
audit journal's last events are chained before the process ends (audit/journal.py), and the request
threads close their database connections (portal/asgi_handler.py). uvicorn ends the process with the
signal that stopped it, so no `atexit` handler would run there."""

import asyncio
from collections.abc import Callable, Sequence


class Lifespan:
    def __init__(self, app, on_shutdown: Sequence[Callable[[], None]] = ()) -> None:
        self.app = app
        self.on_shutdown = on_shutdown

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for step in self.on_shutdown:
                    await asyncio.to_thread(step)
                await send({"type": "lifespan.shutdown.complete"})
                return

"""The ASGI lifespan protocol, which Django's ASGI handler does not speak: at the server's shutdown, the
audit journal's last events are chained before the process ends (audit/journal.py). uvicorn ends the
process with the signal that stopped it, so no `atexit` handler would run there."""

import asyncio

from audit import journal


class Lifespan:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(journal.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

"""The webhook benchmark's baselines: a bare aiohttp handler, alone or with the two Kafka records.

``python -m bench.bare_webhooks --port P [--kafka STATUS RAW]`` serves ``POST /webhooks/flex``
(prints ``ready``); with ``--kafka``, the Kafka settings are the worker's, ``FLEXBRIDGE_KAFKA__*``
from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import orjson
from aiohttp import web

from core.settings import Settings
from streams.kafka.clients import make_producer
from streams.kafka.topics import ensure_topics

__all__ = ["serve_bare"]


async def serve_bare(port: int, topics: list[str] | None = None) -> None:
    """A baseline: read the body, answer 200 with a small JSON body; with ``topics``, first produce
    the body to each in turn, keyed by its ``ExternalOrderId``, each acknowledged before the next."""
    producer = None
    if topics:
        k = Settings().kafka
        await ensure_topics(k, topics)
        producer = make_producer(k)
        await producer.start()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if producer is not None:
            key = str(orjson.loads(body)["ExternalOrderId"]).encode()
            for topic in topics or ():
                await producer.send_and_wait(topic, body, key)
        return web.json_response({"status": "accepted"})

    app = web.Application()
    app.router.add_post("/webhooks/flex", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()  # until SIGTERM
    finally:
        await runner.cleanup()
        if producer is not None:
            await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_webhooks")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kafka", nargs=2, metavar=("STATUS", "RAW"), help="produce to these first")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_bare(args.port, args.kafka))
    return 0


if __name__ == "__main__":
    sys.exit(main())

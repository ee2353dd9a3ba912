"""The ``flexbridge`` command (DESIGN.md §2.6)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import warnings

from core.config import ConfigError, load_settings

__all__ = ["main", "quiet_upstream_warnings"]

# asyncssh 2.24 names cryptography's DSA and finite-field Diffie-Hellman types when it is imported,
# which cryptography 50 and 51 deprecate (ronf/asyncssh#826): five warnings at every start of a
# worker, sandbox or tool that goes by SFTP, on stderr before any log line, so not JSON. They
# come from the import, not from a connection; any other warning still shows (a worker logs it).
_ASYNCSSH_IMPORTS = r"(DSA|Diffie-Hellman over finite fields \(FFDH\)) is deprecated"


def quiet_upstream_warnings() -> None:
    warnings.filterwarnings("ignore", message=_ASYNCSSH_IMPORTS, module=r"asyncssh(\.|$)")


def _worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    from streams.runtime.launch import launch_worker

    return launch_worker(settings, loglevel=args.loglevel)


def _broker(args: argparse.Namespace) -> int:
    from streams.local.broker import EmbeddedBroker

    async def serve() -> None:
        broker = EmbeddedBroker(args.port)
        await broker.start()
        print(f"broker listening on {broker.bootstrap}", flush=True)
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            while not stop.is_set() and broker.running:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            broker.stop()

    asyncio.run(serve())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streams.local.demo import run_demo

    return run_demo(events=args.events, workdir=args.workdir, keep=args.keep)


def _parser(verb: str | None = None) -> argparse.ArgumentParser:
    """Every verb's parser; for ``worker``, without the operator verbs (their modules in streams/ops
    are not imported to start a worker: about 0.1 s of its start-up)."""
    parser = argparse.ArgumentParser(prog="flexbridge", description="Kafka ⇄ Flex payment-rescue bridge")
    sub = parser.add_subparsers(dest="verb", required=True)
    worker = sub.add_parser("worker", help="run the bridge: all flows and the web server")
    worker.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    worker.set_defaults(run=_worker)
    sub.add_parser("sandbox", help="run the Flex sandbox emulator", add_help=False)
    broker = sub.add_parser("broker", help="run the embedded Kafka-compatible broker")
    broker.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("FLEXBRIDGE_BROKER_PORT", "9092")),
        help="listen on 127.0.0.1:PORT (env FLEXBRIDGE_BROKER_PORT)",
    )
    broker.set_defaults(run=_broker)
    demo = sub.add_parser("demo", help="run broker + sandbox + worker and drive traffic through every flow")
    demo.add_argument("--events", type=int, default=1200, help="number of payment events to publish")
    demo.add_argument("--workdir", default=".demo", help="where logs and state go")
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack up after the run, for the operator verbs, until Ctrl-C",
    )
    demo.set_defaults(run=_demo)
    if verb == "worker":
        return parser
    from streams.ops.cli import add_dlq_parser, add_replay_parser

    add_replay_parser(sub)
    add_dlq_parser(sub)
    from streams.ops.order import add_order_parser

    add_order_parser(sub)
    from streams.ops.reconcile import add_reconcile_parser

    add_reconcile_parser(sub)
    from streams.ops.check_cli import add_check_parser

    add_check_parser(sub)
    from streams.ops.asyncapi import add_asyncapi_parser

    add_asyncapi_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_upstream_warnings()
    if argv and argv[0] == "sandbox":
        from sandbox.server import main as sandbox_main

        return sandbox_main(argv[1:])
    args = _parser(argv[0] if argv else None).parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"flexbridge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        from aiokafka.errors import KafkaError  # imported by every verb that reaches Kafka

        if not isinstance(exc, KafkaError):
            raise
        print(
            f"flexbridge: Kafka failed ({exc}); check FLEXBRIDGE_KAFKA__BOOTSTRAP_SERVERS, and "
            "FLEXBRIDGE_KAFKA__SECURITY_PROTOCOL and …__SASL_* for a secured cluster",
            file=sys.stderr,
        )
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())

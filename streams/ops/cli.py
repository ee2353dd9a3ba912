"""``flexbridge replay`` and ``flexbridge dlq``: argument parsing and printing (DESIGN.md §2.6).

Heavy imports (aiokafka, rich) happen only when a verb runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any, get_args

import orjson

from core.config import ConfigError, load_settings
from core.settings import Settings
from schemas.dlq import DlqReason
from streams.ops.arguments import (
    REPLAY_ENV,
    add_merchant_filter,
    at_least_one,
    duration,
    not_negative,
    positive,
    with_replay_env,
)
from streams.ops.selection import Selection, parse_duration, parse_time, parse_where, window_start

__all__ = ["add_dlq_parser", "add_replay_parser"]


def _of_merchants(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """The Selection fields of ``--merchant``: the names, and their mids from the merchants file."""
    from streams.ops.merchant_names import merchant_mids

    return {"merchants": tuple(sorted(set(args.merchant))), "mids": merchant_mids(args.merchant)}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--partition", type=not_negative, action="append", default=[], help="only this partition (repeatable)"
    )
    p.add_argument("--key", action="append", default=[], help="only records with this key (repeatable)")
    p.add_argument("--where", action="append", default=[], help="field filter path=value (repeatable, ANDed)")
    add_merchant_filter(p)
    p.add_argument("--from-offset", type=not_negative, help="first offset (in every selected partition)")
    p.add_argument("--to-offset", type=not_negative, help="last offset, inclusive")
    p.add_argument("--execute", action="store_true", help="send (default: print the plan only)")
    p.add_argument("--rate", type=positive, help="at most N records per second")
    p.add_argument("--to-topic", help="send here instead of the default target")
    p.add_argument(
        "--max-replays",
        type=at_least_one,
        help="loop guard: refuse records replayed N times (1 or more; default 3)",
    )
    p.add_argument(
        "--force", action="store_true", help="re-process even finished events (same idempotency keys)"
    )
    p.add_argument("--replay-id", help="name this run (default: generated)")
    p.add_argument("--resume", metavar="REPLAY_ID", help="continue an interrupted run; sends nothing twice")
    p.add_argument("--json", action="store_true", help="print the plan and result as JSON")


def add_replay_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a topic window into the pipeline (dry-run plan by default)",
        description="--topic, --from, --to, --last and --execute can also be set as "
        f"{REPLAY_ENV}TOPIC, …FROM, …TO, …LAST and …EXECUTE (a flag given wins).",
    )
    p.add_argument("--topic", help="source topic")
    _time_window(p, "window start", "window end", "window of")
    p.add_argument(
        "--without-outcome",
        action="store_true",
        help="only the records with no outcome: not finished, answered or dead-lettered (an input topic)",
    )
    _common(p)
    p.set_defaults(run=_replay)


def _time_window(p: argparse.ArgumentParser, start: str, end: str, last: str) -> None:
    """``--from``, ``--to`` and ``--last``: a window of the records' times (a dead letter's: when it
    was dead-lettered)."""
    p.add_argument("--from", dest="start", help=f"{start}, ISO-8601 (e.g. 2026-11-24T10:00:00Z)")
    p.add_argument("--to", dest="end", help=f"{end}, ISO-8601, exclusive (default: now)")
    p.add_argument("--last", type=duration, help=f"{last} the last duration: 90s, 15m, 2h, 1d")


def add_dlq_parser(sub: Any) -> None:
    p = sub.add_parser("dlq", help="list / inspect / redrive dead letters")
    verbs = p.add_subparsers(dest="dlq_verb", required=True)
    listing = verbs.add_parser("list", help="dead letters grouped by reason")
    listing.add_argument("--json", action="store_true")
    add_merchant_filter(listing)
    _time_window(listing, "dead-lettered from", "dead-lettered until", "dead-lettered within")
    listing.set_defaults(run=_dlq_list)
    show = verbs.add_parser(
        "show", aliases=["inspect"], help="one dead letter, headers decoded, card data masked"
    )
    show.add_argument("position", help="PARTITION:OFFSET (as `dlq list` prints)")
    show.set_defaults(run=_dlq_show)
    redrive = verbs.add_parser("redrive", help="send dead letters back to their source topic")
    redrive.add_argument(
        "--reason",
        action="append",
        default=[],
        choices=get_args(DlqReason),
        help="only this dlq-reason (repeatable)",
    )
    _time_window(redrive, "dead-lettered from", "dead-lettered until", "dead-lettered within")
    _common(redrive)
    redrive.set_defaults(run=_redrive)


def _window(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """The window's [start, end) in epoch milliseconds; a start before 1970 is 0 (the beginning)."""
    if args.last and (args.start or args.end):
        raise ValueError("--last cannot be combined with --from/--to")
    if args.last:
        return window_start(int(time.time() * 1000), parse_duration(args.last)), None
    if args.end and not args.start:
        raise ValueError("--to needs --from")
    start, end = (parse_time(args.start) if args.start else None, parse_time(args.end) if args.end else None)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"--to ({args.end}) is not after --from ({args.start}): the window is empty")
    return None if start is None else max(0, start), end


def _selection(args: argparse.Namespace, topic: str, reasons: tuple[str, ...] = ()) -> Selection:
    start, end = _window(args)
    if args.from_offset is not None and args.to_offset is not None and args.to_offset < args.from_offset:
        raise ValueError(f"--to-offset {args.to_offset} is before --from-offset {args.from_offset}")
    return Selection(
        topic=topic,
        from_ms=start,
        to_ms=end,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
        partitions=tuple(args.partition),
        keys=tuple(args.key),
        where=tuple(parse_where(w) for w in args.where),
        reasons=reasons,
        **_of_merchants(args),
    )


def _replay(args: argparse.Namespace) -> int:
    try:
        with_replay_env(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    settings = load_settings()
    if not args.resume:
        if not args.topic:
            raise ConfigError("replay needs --topic (or --resume REPLAY_ID)")
        _into_the_pipeline(settings, args.topic, args.to_topic)
        if args.without_outcome:
            _has_outcomes(settings, args.topic)
        windowed = args.start or args.last or args.from_offset is not None or args.to_offset is not None
        if not windowed:
            raise ConfigError(
                "choose a window: --from ISO [--to ISO], --last 2h, or --from-offset/--to-offset"
            )
    return _run_job(args, settings, "replay", lambda: _selection(args, args.topic))


def _into_the_pipeline(settings: Settings, topic: str, to_topic: str | None) -> None:
    """A replay into its own topic of what flexbridge writes would only repeat its records (a status,
    a webhook, a ledger entry twice); the dead letters have a verb of their own."""
    if to_topic:
        return
    topics = settings.topics
    if topic == topics.dlq:
        raise ConfigError(f"{topic} is the dead-letter topic: use flexbridge dlq redrive")
    written = (topics.status, topics.webhooks, topics.ledger, topics.batches, topics.audit)
    if topic in written:
        raise ConfigError(
            f"{topic} is written by flexbridge, not read as input: replayed into itself, its records "
            "would only be repeated; name --to-topic to send them elsewhere"
        )


def _has_outcomes(settings: Settings, topic: str) -> None:
    from streams.ops.outcomes import input_topics

    if topic not in input_topics(settings.topics):
        raise ConfigError(
            f"--without-outcome needs an input topic ({', '.join(input_topics(settings.topics))}), "
            f"whose records' outcomes flexbridge knows; {topic} is not one"
        )


def _redrive(args: argparse.Namespace) -> int:
    settings = load_settings()
    return _run_job(
        args, settings, "redrive", lambda: _selection(args, settings.topics.dlq, tuple(args.reason))
    )


def _run_job(args: argparse.Namespace, settings: Settings, action: str, selection: Any) -> int:
    from streams.ops.plan import Job
    from streams.ops.replay import run_job
    from streams.ops.resume import load_resume, resumed_job
    from streams.ops.scan import ReplayError

    try:
        if args.replay_id and args.execute and not args.resume:
            asyncio.run(_new_replay_id(settings, args.replay_id))
        resume = asyncio.run(load_resume(settings, args.resume)) if args.resume else None
        if resume is not None:
            job = resumed_job(args, action, resume)
        else:
            job = Job(
                action=action,  # type: ignore[arg-type]
                selection=selection(),
                replay_id=args.replay_id or f"{action}-{uuid.uuid4().hex[:12]}",
                to_topic=args.to_topic,
                rate=args.rate,
                force=args.force,
                max_replays=Job.max_replays if args.max_replays is None else args.max_replays,
                without_outcome=getattr(args, "without_outcome", False),  # replay's only
            )
        outcome = asyncio.run(run_job(settings, job, execute=args.execute, resume=resume))
    except (ReplayError, ValueError) as exc:
        raise _config_error(exc, settings) from None
    from streams.ops.view import print_outcome

    print_outcome(outcome, as_json=args.json)
    return 130 if outcome.interrupted else 0


async def _new_replay_id(settings: Settings, replay_id: str) -> None:
    """A run named with ``--replay-id`` must be a new one: two runs under one id would share one
    audit trail, and only ``--resume`` may continue the first."""
    from streams.ops.audit import read_audit

    if await read_audit(settings, replay_id):
        raise ValueError(
            f"replay id {replay_id!r} was used before (see {settings.topics.audit}): continue that run "
            f"with --resume {replay_id}, or name this one differently"
        )


def _dlq_list(args: argparse.Namespace) -> int:
    from streams.ops.dlq import list_dead_letters
    from streams.ops.scan import ReplayError
    from streams.ops.view import print_groups

    settings = load_settings()
    try:
        start, end = _window(args)
        sel = Selection(topic=settings.topics.dlq, from_ms=start, to_ms=end, **_of_merchants(args))
        groups = asyncio.run(list_dead_letters(settings, sel))
    except (ReplayError, ValueError) as exc:
        raise _config_error(exc, settings) from None
    print_groups(groups, as_json=args.json)
    return 0


def _dlq_show(args: argparse.Namespace) -> int:
    from streams.ops.dlq import parse_position, show_dead_letter
    from streams.ops.scan import ReplayError

    settings = load_settings()
    try:
        partition, offset = parse_position(args.position)
        shown = asyncio.run(show_dead_letter(settings, partition, offset))
    except (ReplayError, ValueError) as exc:
        raise _config_error(exc, settings) from None
    sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _config_error(exc: Exception, settings: Settings) -> ConfigError:
    """``exc`` as the message a verb stops with; a DLQ topic that does not exist names its setting."""
    from streams.ops.scan import NoSuchTopic

    if isinstance(exc, NoSuchTopic) and exc.topic == settings.topics.dlq:
        return ConfigError(f"FLEXBRIDGE_TOPICS__DLQ: {exc}; is the setting the workers' one?")
    return ConfigError(str(exc))

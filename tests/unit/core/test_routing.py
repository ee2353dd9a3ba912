"""``routing.since``: a routing change (or a merchant added with a route to SFTP) that every worker
makes at one moment, by each record's timestamp, whichever merchants file it was started with
(core/routing.py, docs/processors.md "Changing a routing")."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from consumers.intake import Flow, Refused, route_to_merchant
from consumers.sftp.intake import batch_item
from consumers.split import batch_bound
from core.config import ConfigError
from core.merchants import Merchant, Merchants, load_merchants
from core.routing import Route, RoutingSettings
from core.settings import Settings
from streams.local.traffic import make_event

SINCE = datetime(2026, 12, 8, tzinfo=UTC)
T_MS = round(SINCE.timestamp() * 1000)
BEFORE, AFTER = T_MS - 1, T_MS


def _merchant(name: str, routing: RoutingSettings) -> Merchant:
    return Merchant(
        mid=f"mid-{name}", name=name, app_key=SecretStr("k"), app_secret=SecretStr("s"), routing=routing
    )


def _record(mid: str, kind: str) -> bytes:
    event = make_event(kind, "ORD-1", random.Random(7))
    assert isinstance(event, dict)
    return orjson.dumps({**event, "mid": mid})


def test_a_record_before_since_goes_by_the_previous_routing_and_one_from_since_by_the_routing() -> None:
    routing = RoutingSettings(mit="sftp", transmit="sftp", since=SINCE, previous_mit="api")
    assert (routing.mit_at(BEFORE), routing.mit_at(AFTER)) == ("api", "sftp")
    assert (routing.transmit_at(BEFORE), routing.transmit_at(AFTER)) == ("api", "sftp")
    plain = RoutingSettings(mit="sftp")  # no since: the routing for every record
    assert (plain.mit_at(BEFORE), plain.mit_at(-1)) == ("sftp", "sftp")
    ahead = RoutingSettings(mit="sftp", since=datetime(2999, 1, 1, tzinfo=UTC))
    assert ahead.mit_at(-1) == "api"  # no timestamp: the reader's clock, before a since far ahead


def test_a_change_is_described_for_the_workers_log() -> None:
    changing = RoutingSettings(
        mit="sftp", since=datetime(2026, 12, 8, 1, tzinfo=timezone(timedelta(hours=1)))
    )
    assert changing.describe() == (
        "mit api, transmit api for records produced before 2026-12-08T00:00:00Z, then mit sftp, transmit api"
    )
    assert RoutingSettings().describe() == "mit sftp, transmit api"


def test_sftp_routes_name_the_fields_that_send_something_by_sftp() -> None:
    assert RoutingSettings(mit="api", previous_mit="sftp").sftp_routes == []  # no since: no previous
    changing = RoutingSettings(mit="api", since=SINCE, previous_mit="sftp")
    assert changing.sftp_routes == ["routing.previous_mit"]
    assert changing.uses_sftp("mit") and not changing.uses_sftp("transmit")
    assert RoutingSettings(transmit="sftp").uses_sftp("transmit")


def test_since_needs_a_time_zone_and_reads_from_the_environment_and_the_merchants_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        RoutingSettings(since="2026-12-08T00:00:00")  # type: ignore[arg-type]
    monkeypatch.setenv("FLEXBRIDGE_ROUTING__SINCE", "2026-12-08T01:00:00+01:00")
    assert Settings().routing.since == SINCE
    monkeypatch.delenv("FLEXBRIDGE_ROUTING__SINCE")
    path = tmp_path / "merchants.toml"
    entry = '[[merchants]]\nname = "dana"\nmid = "mid-dana"\napp_key = "k"\napp_secret = "s"\n'
    path.write_text(entry + 'routing = { mit = "api", since = 2026-12-08T00:00:00Z, previous_mit = "api" }\n')
    [dana] = load_merchants(Settings(merchants_file=path))
    assert dana.routing.since == SINCE and dana.routing.mit_at(AFTER) == "api"
    path.write_text(entry + 'routing = { mit = "api", since = 2026-12-08T00:00:00 }\n')  # TOML local time
    with pytest.raises(ConfigError, match=r'merchant "dana".*routing\.since.*timezone'):
        load_merchants(Settings(merchants_file=path))


def _outcomes(pipeline: Merchants, batch: Merchants, raw: bytes, flow: Flow, at_ms: int) -> list[str]:
    """What happens to one record: the pipeline's part (it takes what consumers/split.py does not
    give the batch path: a dead letter or an API call) and the batch path's (a file or a dead
    letter), each with its worker's merchants."""
    outcomes = []
    if batch_bound(raw, flow, pipeline, at_ms) is None:
        routed = route_to_merchant(raw, flow, pipeline, at_ms)
        outcomes.append(routed.reason if isinstance(routed, Refused) else routed.route)
    item = batch_item(flow, raw, batch, 30, at_ms)  # type: ignore[arg-type]
    if item is not None:
        outcomes.append(item.reason if isinstance(item, Refused) else "file")
    return outcomes


KNOWN = _merchant("acme", RoutingSettings(mit="api"))
CHANGES: dict[str, tuple[list[Merchant], list[Merchant], Route]] = {
    # name: the old file's merchants, the new file's; where its MIT declines go once the change holds
    "a merchant added": (
        [KNOWN],
        [KNOWN, _merchant("dana", RoutingSettings(mit="sftp", since=SINCE))],
        "sftp",
    ),
    "api to sftp": (
        [_merchant("dana", RoutingSettings(mit="api"))],
        [_merchant("dana", RoutingSettings(mit="sftp", since=SINCE))],
        "sftp",
    ),
    "sftp to api": (
        [_merchant("dana", RoutingSettings(mit="sftp"))],
        [_merchant("dana", RoutingSettings(mit="api", since=SINCE, previous_mit="sftp"))],
        "api",
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_workers_with_the_old_file_and_the_new_agree_on_each_record_produced_before_since(
    change: str,
) -> None:
    old, new, then = CHANGES[change]
    files = {"old": Merchants(old), "new": Merchants(new)}
    raw = _record("mid-dana", "mit-rebill")
    for pipeline in files:
        for batch in files:  # one worker holds the record's partition in each group
            outcomes = _outcomes(files[pipeline], files[batch], raw, "evaluate", BEFORE)
            assert len(outcomes) == 1, (pipeline, batch, outcomes)  # sent once, or dead-lettered once
            assert outcomes != ["file"] or change == "sftp to api", (pipeline, batch, outcomes)
    # once every worker has the new file, a record produced from since on goes the new way
    assert _outcomes(files["new"], files["new"], raw, "evaluate", AFTER) == [
        "file" if then == "sftp" else "api"
    ]


def test_without_since_a_new_merchants_record_is_left_by_both_when_the_files_differ() -> None:
    """What ``since`` prevents: the new file's pipeline leaves the record to the batch path, and the
    old file's batch reader knows no such merchant; nobody sends it, nobody dead-letters it."""
    old, new = Merchants([KNOWN]), Merchants([KNOWN, _merchant("dana", RoutingSettings(mit="sftp"))])
    assert _outcomes(new, old, _record("mid-dana", "mit-rebill"), "evaluate", BEFORE) == []


def test_the_routing_digest_changes_with_what_routes_a_record_and_nothing_else() -> None:
    acme, dana = KNOWN, _merchant("dana", RoutingSettings(mit="sftp", since=SINCE))
    digest = Merchants([acme, dana]).routing_digest()
    assert len(digest) == 12 and Merchants([dana, acme]).routing_digest() == digest  # the file's order
    other_secret = dana.model_copy(update={"app_secret": SecretStr("rotated")})
    assert Merchants([acme, other_secret]).routing_digest() == digest
    for changed in (
        [acme],  # a merchant fewer
        [acme, _merchant("dana", RoutingSettings(mit="sftp"))],  # no since
        [acme, dana.model_copy(update={"mid": "mid-other"})],
    ):
        assert Merchants(changed).routing_digest() != digest

"""Every ``FLEXBRIDGE_`` name the docs, the deploy files and the code tell an operator to set is one
the worker reads (or another command's own): a misspelt section in an alert's text
(``FLEXBRIDGE_WEBHOOKS__…`` for ``FLEXBRIDGE_WEBHOOK__…``) sends the operator to a variable the
worker refuses."""

from __future__ import annotations

import re
from pathlib import Path

from core.config import setting_names, unknown_variables

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (  # what an operator reads, and the code (not its tests, which set wrong names on purpose)
    *("README.md", "docker-compose.yml", "Makefile", "Dockerfile", "docs", "deploy"),
    *("bench", "consumers", "core", "sandbox", "schemas", "streams"),
)
SUFFIXES = {".md", ".yml", ".yaml", ".json", ".py"}
# core/config.py and docs/configuration.md show these as the mistakes the worker refuses
EXAMPLES_OF_MISTAKES = {"FLEXBRIDGE_KAFKA_BOOTSTRAP_SERVERS", "FLEXBRIDGE_TOPIC__STATUS"}
NAME = re.compile(r"FLEXBRIDGE_[A-Za-z0-9_]*")


def files() -> list[Path]:
    paths = [ROOT / entry for entry in SCANNED]
    inside = [p for d in paths if d.is_dir() for p in d.rglob("*") if p.is_file() and p.suffix in SUFFIXES]
    return [p for p in paths if p.is_file()] + inside


def wrong(name: str) -> bool:
    """Whether ``name`` names no setting; ``FLEXBRIDGE_X__`` (``X__*``, ``X__{field}``) is a section."""
    if name == "FLEXBRIDGE_" or name in EXAMPLES_OF_MISTAKES:
        return False
    if name.endswith("__"):
        return name.removesuffix("__") not in setting_names()
    return bool(unknown_variables({name: ""}))


def test_every_flexbridge_name_mentioned_is_a_setting_or_another_commands_variable() -> None:
    mentioned = {
        (str(path.relative_to(ROOT)), name)
        for path in files()
        for name in NAME.findall(path.read_text(errors="replace"))
    }
    assert len(mentioned) > 100  # the scan found the docs
    assert sorted((path, name) for path, name in mentioned if wrong(name)) == []

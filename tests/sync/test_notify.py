"""Notifications: a configured command gets one JSON object per event, once until the condition clears."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from marketlake.coverage.model import SyncConfig
from marketlake.pipeline.sync.notify import Notifier


def test_command_gets_each_event_once_until_it_clears(tmp_path: Path) -> None:
    sink = tmp_path / "events.jsonl"
    script = tmp_path / "sink.py"
    script.write_text(f"import sys\nopen({str(sink)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    n = Notifier(SyncConfig(notify_command=f"{sys.executable} {script}"))
    n.raise_("failure", "stocks_1min_clean", {"message": "twelvedata 500"})
    n.raise_("failure", "stocks_1min_clean", {"message": "twelvedata 500"})  # still failing: not again
    n.clear("failure", "stocks_1min_clean")
    n.raise_("failure", "stocks_1min_clean", {"message": "twelvedata 503"})  # failing again after a recovery
    events = [json.loads(line) for line in sink.read_text().splitlines() if line]
    assert [(e["kind"], e["table"], e["message"]) for e in events] == [
        ("failure", "stocks_1min_clean", "twelvedata 500"), ("failure", "stocks_1min_clean", "twelvedata 503")]


def test_a_failing_notification_never_stops_the_sync(tmp_path: Path) -> None:
    n = Notifier(SyncConfig(notify_webhook="http://127.0.0.1:9/nowhere", notify_command="/no/such/command"))
    n.raise_("stale", "stocks_daily_clean", {"lag_s": 90_000})
    assert n.sent and n.sent[0]["kind"] == "stale"

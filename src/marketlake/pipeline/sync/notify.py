"""Notify someone when a sync action fails or a table goes stale: a webhook URL or a command.

Why both: a webhook reaches chat or paging services directly; a command (`mail`, `logger`, a script)
works where nothing listens on HTTP. Each event is one JSON object (POSTed, or on the command's stdin).
A notification that itself fails is logged and forgotten: it must never stop the sync.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
from typing import Any

from marketlake.coverage.model import SyncConfig
from marketlake.sources.redact import redact

log = logging.getLogger("marketlake.sync")


class Notifier:
    """Sends each (kind, table) once until it clears, so a stale table does not page every minute."""

    def __init__(self, config: SyncConfig) -> None:
        self.config = config
        self.active: set[tuple[str, str]] = set()
        self.sent: list[dict[str, Any]] = []

    @property
    def enabled(self) -> bool:
        return bool(self.config.notify_webhook or self.config.notify_command)

    def raise_(self, kind: str, table: str, event: dict[str, Any]) -> None:
        if (kind, table) in self.active:
            return
        self.active.add((kind, table))
        self.send({"kind": kind, "table": table, **event})

    def clear(self, kind: str, table: str) -> None:
        self.active.discard((kind, table))

    def send(self, event: dict[str, Any]) -> None:
        self.sent.append(event)
        if not self.enabled:
            return
        body = json.dumps(event, default=str)
        try:
            if self.config.notify_webhook:
                import httpx

                httpx.post(self.config.notify_webhook, content=body, timeout=5.0,
                           headers={"Content-Type": "application/json"})
            if self.config.notify_command:
                subprocess.run(shlex.split(self.config.notify_command), input=body, text=True, timeout=10,
                               check=False, capture_output=True)
        except Exception as exc:  # noqa: BLE001 - a failed notification never stops the sync
            log.warning("sync: notification failed: %s", redact(str(exc))[:200])


__all__ = ["Notifier"]

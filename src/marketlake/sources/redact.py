"""Secret hygiene: clean a configured secret, remember it, and redact it from any text we keep or print.

Why a process-wide registry: vendor texts (error messages, 404 reasons) travel far from the client
that knows the key: into `ingest_state` and `symbols` rows, Delta statistics of those rows, CLI
output and error messages. A vendor that echoes the key back (some do, in "invalid key ..." answers)
would otherwise leak it into every one of them. Every secret that enters the process through the
configuration or a client is registered here, and every vendor text passes `redact` before it is
stored or printed, so no place has to know which key was used.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from urllib.parse import quote, quote_plus

from marketlake.errors import ConfigError

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in a text: raw, URL-encoded (both styles), lower/upper-case escapes."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    forms |= {f.replace("%", "%25") for f in list(forms) if "%" in f}  # encoded twice (a URL in a URL)
    return {f for f in forms if f}


def register_secret(secret: str | None) -> None:
    """Remember `secret` (stripped, and its URL-encoded forms) so `redact` masks it from now on.

    Whitespace around it is dropped (any text holding the raw form holds the stripped one), so a
    blank value never turns every run of spaces into a mask.
    """
    secret = (secret or "").strip()
    if not secret:
        return
    with _lock:
        _secrets.update(_forms(secret))


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every registered secret, and every secret in `secrets`, replaced by ``***``.

    Longest forms first, so a secret containing another never leaves a fragment behind.
    """
    if not text:
        return text
    with _lock:
        known = set(_secrets)
    for s in secrets:
        if s:
            known |= _forms(s)
    for form in sorted(known, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record of the process (any logger, any handler) before it is formatted.

    Why the record factory and not a handler filter: libraries log through their own loggers and the
    application may add handlers later; the factory sees every record once, whoever emits it.
    Idempotent.
    """
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
                return record
            masked = redact(message)
            if masked != message:
                record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)


def clean_secret(value: str, *, name: str) -> str:
    """`value` stripped of surrounding whitespace, checked, and registered for redaction.

    No vendor key format is assumed: anything printable goes. Rejected, with a message that names the
    position and the kind of character but never the value: an empty key (it would be sent and
    refused as "wrong key"), control or format characters (a newline from `echo key > file`, a NUL, a
    bidi mark: HTTP libraries refuse them with a traceback that quotes the header, key included), and
    non-ASCII characters (an HTTP header cannot carry them).

    Raises:
        ConfigError: the key is empty or holds a character an HTTP header cannot carry.
    """
    register_secret(value)  # before any check: an error below must not be able to echo it
    key = value.strip()
    if not key:
        raise ConfigError(f"{name} is empty (or only whitespace): set it to the key your vendor gave you")
    for pos, ch in enumerate(key, start=1):
        if unicodedata.category(ch).startswith("C") or unicodedata.category(ch) in ("Zl", "Zp"):
            raise ConfigError(f"{name} contains a control character (U+{ord(ch):04X}) at position {pos}: "
                              "copy the key again without it")
        if not ch.isascii():
            raise ConfigError(f"{name} contains a non-ASCII character at position {pos}: an HTTP header "
                              "cannot carry it; copy the key again")
    return key


__all__ = ["MASK", "clean_secret", "install_log_redaction", "redact", "register_secret"]

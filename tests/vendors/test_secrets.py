"""The API key never appears in any output or any byte of the warehouse, even with a vendor that echoes it.

Real CLI processes against the loopback fake TwelveData in its `echo_key` mode (every error message
quotes the key the request carried, raw and URL-encoded); then every byte of stdout/stderr and of
every file under the warehouse (Delta logs with their statistics, Parquet data, support tables) is
searched for the key in each form it could take.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from marketlake.config import TwelveDataConfig, load_config
from marketlake.errors import ConfigError
from marketlake.sources.redact import redact
from marketlake.storage import DeltaStore
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

KEY = "td+SECRET/7f3a=9c1e%zz"  # characters that URL-encode, so the encoded form differs
WRONG = "td+WRONG/0123=4567%qq"
REPO = Path(__file__).resolve().parents[2]


def forms(secret: str) -> list[bytes]:
    out = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret), secret.strip()}
    return sorted(f.encode() for f in out if f)


def cli(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWELVEDATA_", "MARKETLAKE_"))}
    env.update({"PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{env.get('PYTHONPATH', '')}",
                "MARKETLAKE_MINUTE_SECONDS": "0.25", **env_extra})
    return subprocess.run([sys.executable, "-m", "marketlake.cli.main", *args], env=env, cwd=cwd,
                          capture_output=True, timeout=120)


def leaks(blob: bytes, secrets: list[str]) -> list[bytes]:
    return [f for s in secrets for f in forms(s) if f in blob]


def test_no_key_in_any_output_or_warehouse_file(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    state = FakeState(api_key=KEY, credits_per_minute=400, minute_seconds=0.25, market_now=now, echo_key=True,
                      listings={"AAPL": (now - timedelta(days=30)).date(), "MSFT": (now - timedelta(days=30)).date()})
    wh = tmp_path / "wh"
    cfg = tmp_path / "ml.toml"
    cfg.write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 400\ncredits_per_day = 100000\n")
    typo = tmp_path / "typo.toml"
    typo.write_text(f"[twelvedata]\napi_kye = {KEY!r}\nplan = 'custom'\n")
    ingest = ["ingest", "twelvedata", "--table", "stocks_daily_clean", "--symbols", "AAPL,MSFT,NOPE",
              "--config", str(cfg), "-w", str(wh)]
    runs: dict[str, subprocess.CompletedProcess[bytes]] = {}
    with FakeTwelveData(state) as fake:
        url = {"TWELVEDATA_BASE_URL": fake.url}
        # 1. a wrong key, echoed back by the vendor's 401 message
        runs["wrong"] = cli(ingest, {**url, "TWELVEDATA_API_KEY": WRONG}, tmp_path)
        # 2. a misspelt setting holding the key: pydantic would print input_value='...'
        runs["typo"] = cli([*ingest[:-4], "--config", str(typo), "-w", str(wh)], url, tmp_path)
        # 3. a control character inside the key, 4. an empty key
        runs["control"] = cli(ingest, {**url, "TWELVEDATA_API_KEY": KEY[:5] + "\x01" + KEY[5:]}, tmp_path)
        runs["empty"] = cli(ingest, {**url, "TWELVEDATA_API_KEY": "   "}, tmp_path)
        # 5. the right key with surrounding whitespace (a pasted key, `echo key > file`): stripped, works
        #    NOPE's 404 message echoes the key into ingest_state, symbols and the printed "inactive" line
        runs["whitespace"] = cli(ingest, {**url, "TWELVEDATA_API_KEY": f"  {KEY}\n"}, tmp_path)
    out = {k: r.stdout + r.stderr for k, r in runs.items()}
    assert runs["whitespace"].returncode == 0, out["whitespace"].decode()
    assert b"inactive NOPE" in out["whitespace"] and b"***" in out["whitespace"]  # the echo was there, masked
    assert runs["wrong"].returncode == 2 and b"Check TWELVEDATA_API_KEY" in out["wrong"]
    assert runs["typo"].returncode == 2 and b"twelvedata.api_kye" in out["typo"] and b"unknown setting" in out["typo"]
    assert runs["control"].returncode == 2 and b"control character (U+0001) at position 6" in out["control"]
    assert runs["empty"].returncode == 2 and b"TwelveData API key is empty" in out["empty"]
    for name, blob in out.items():
        assert b"Traceback" not in blob, (name, blob.decode(errors="replace"))
        assert not leaks(blob, [KEY, WRONG]), (name, blob.decode(errors="replace"))
        if name != "whitespace":  # one error line (beside the timestamped progress lines of a piped run)
            lines = [ln for ln in runs[name].stderr.decode().strip().splitlines()
                     if not re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", ln)]
            assert len(lines) == 1, (name, blob.decode())
    # the vendor really echoed the key, and the stored texts carry the mask instead
    store = DeltaStore(wh)
    state_rows = store.read_support("ingest_state").to_pandas().set_index("symbol")
    assert "***" in state_rows.at["NOPE", "message"]
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    assert "***" in master.at["NOPE", "inactive_reason"]
    files = [p for p in wh.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".parquet" for p in files)
    for p in files:
        assert not leaks(p.read_bytes(), [KEY, WRONG]), p


def test_config_errors_never_quote_input_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TWELVEDATA_API_KEY", "TWELVEDATA_BASE_URL", "MARKETLAKE_MINUTE_SECONDS"):
        monkeypatch.delenv(var, raising=False)
    bad = tmp_path / "bad.toml"
    for text in (f"[twelvedata]\napi_kye = {KEY!r}\n", f"[twelvedta]\napi_key = {KEY!r}\n",
                 f"[twelvedata]\napi_key = {KEY!r}\ncredits_per_minute = {KEY!r}\n",
                 f"[twelvedata]\napi_key = [{KEY!r}]\n"):
        bad.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(bad)
        assert KEY not in str(info.value) and "input_value" not in str(info.value), str(info.value)
    bad.write_text(f'[twelvedata]\napi_key = " {KEY}\\t"\n')
    assert load_config(bad).twelvedata.api_key.get_secret_value() == KEY  # type: ignore[union-attr]
    assert TwelveDataConfig(api_key=f"\n{KEY} ").api_key.get_secret_value() == KEY  # type: ignore[union-attr]
    for hostile in ("", " \t\n", KEY + "\x00x", "ab\ncd", "ab\u202ecd", "ключ"):
        with pytest.raises(ConfigError) as info:
            TwelveDataConfig(api_key=hostile)
        assert hostile.strip() == "" or hostile not in str(info.value)


def test_redact_masks_every_form() -> None:
    text = f"bad key {KEY} / {quote(KEY, safe='')} / {quote_plus(KEY, safe='')} / {quote(quote(KEY, safe=''), safe='')}"
    masked = redact(text, KEY)
    assert not leaks(masked.encode(), [KEY]) and masked.count("***") == 4


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from marketlake.sources.redact import install_log_redaction, register_secret

    register_secret(KEY)
    install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("httpx").info("GET %s?apikey=%s", "/time_series", quote(KEY, safe=""))
        logging.getLogger("some.lib").warning(f"refused key {KEY}")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "***" in text and not leaks(text.encode(), [KEY])


def test_a_blank_key_registers_nothing() -> None:
    from marketlake.sources.redact import register_secret

    register_secret("   ")
    register_secret("\t\n")
    assert redact("a   b\t\nc") == "a   b\t\nc"

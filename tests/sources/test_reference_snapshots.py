"""Reference lists shipped in the package (dated snapshots), and `symbols update` over loopback HTTP."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import marketlake
from marketlake.cli.main import app
from marketlake.config import MarketlakeConfig
from marketlake.sources.reference import load_reference, reference_path
from marketlake.sources.reference.loaders import comment_lines
from marketlake.sources.reference.snapshots import KINDS, snapshot_path
from marketlake.sources.twelvedata.universes import resolve_universe
from marketlake.storage import DeltaStore
from tests.vendors.loopback import LoopbackServer

SHARED_NAMES = {"sp500": "sp500_constituents.csv", "nasdaq_listed": "nasdaq_listed.csv",
                "other_listed": "other_listed.csv"}


@pytest.fixture(autouse=True)
def _own_reference_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees (or writes) the user's downloaded lists."""
    ref = tmp_path / "user-reference"
    monkeypatch.setenv("MARKETLAKE_REFERENCE_DIR", str(ref))
    return ref


def _header(path: Path) -> str:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return fh.readline()


def test_snapshots_are_package_data_with_source_and_date(shared_data: Path) -> None:
    package = Path(marketlake.__file__).parent
    total = 0
    for kind in KINDS:
        path = snapshot_path(kind)
        assert path.is_file() and path.is_relative_to(package / "data")
        total += path.stat().st_size
        head = _header(path)
        assert re.search(r"Source: https://\S+", head) and re.search(r"Snapshot: \d{4}-\d{2}-\d{2}", head), head
        assert comment_lines(path) == 1
        # the same rows as the shared originals, defects and footer handling included
        shipped = load_reference(path)
        original = load_reference(shared_data / "reference" / SHARED_NAMES[kind])
        pd.testing.assert_frame_equal(shipped, original)
    assert total < 400_000  # the package stays small (the two listings are gzip-compressed)


def test_symbols_load_and_sp500_work_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ../shared from here
    package = Path(marketlake.__file__).parent
    assert all(reference_path(k).is_relative_to(package) for k in KINDS)
    sp500 = resolve_universe("sp500", MarketlakeConfig())
    assert 500 <= len(sp500) <= 505 and {"AAPL", "MMM", "ZTS"} <= set(sp500)
    res = CliRunner().invoke(app, ["symbols", "load", "-w", str(tmp_path / "wh")])
    assert res.exit_code == 0, res.output
    master = DeltaStore(tmp_path / "wh").read_support("symbols").to_pandas().set_index("symbol")
    assert len(master) > 10_000
    assert (master.loc["AAPL", "sector"], master.loc["AAPL", "mic_code"]) == ("Information Technology", "XNAS")
    assert master.loc["SPY", "asset_type"] == "etf"


class _Files(BaseHTTPRequestHandler):
    state: dict[str, bytes]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = self.state.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"not found")

    def log_message(self, *args: object) -> None:
        pass


class FileServer(LoopbackServer):
    handler = _Files


def _served() -> dict[str, bytes]:
    """The shipped lists as a server would publish them (no header), S&P 500 with one new company."""
    out = {}
    for kind in KINDS:
        path = snapshot_path(kind)
        import gzip

        text = (gzip.open(path, "rt") if path.suffix == ".gz" else path.open()).read()
        body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
        if kind == "sp500":
            body += "NEWCO,New Company,Energy,Oil & Gas Refining & Marketing,\"Austin, Texas\",2026-11-02,1,2020\n"
        out[f"/lists/{kind}.csv"] = body.encode()
    return out


def _config(tmp_path: Path, url: str, ref: Path) -> Path:
    cfg = tmp_path / "marketlake.toml"
    urls = "\n".join(f'{k} = "{url}/lists/{k}.csv"' for k in KINDS)
    cfg.write_text(f'[reference]\ndir = "{ref}"\n[reference.urls]\n{urls}\n')
    return cfg


def test_symbols_update_downloads_validates_and_wins(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    with FileServer(_served()) as server:
        cfg = _config(tmp_path, server.url, ref)
        res = CliRunner().invoke(app, ["symbols", "update", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    for kind in KINDS:
        path = ref / f"{kind}.csv"
        assert path.is_file() and reference_path(kind, str(ref)) == path
        assert f"Source: {server.url}/lists/{kind}.csv" in _header(path)
    config = MarketlakeConfig.model_validate({"reference": {"dir": str(ref)}})
    assert "NEWCO" in resolve_universe("sp500", config)
    res = CliRunner().invoke(app, ["symbols", "load", "-w", str(tmp_path / "wh"), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    master = DeltaStore(tmp_path / "wh").read_support("symbols").to_pandas().set_index("symbol")
    assert master.loc["NEWCO", "sector"] == "Energy"


@pytest.mark.parametrize("defect", ["truncated", "missing", "wrong_format"])
def test_symbols_update_refuses_a_bad_download_and_keeps_the_lists(tmp_path: Path, defect: str) -> None:
    ref = tmp_path / "ref"
    served = _served()
    if defect == "truncated":
        served["/lists/nasdaq_listed.csv"] = b"\n".join(served["/lists/nasdaq_listed.csv"].splitlines()[:20])
    elif defect == "missing":
        del served["/lists/other_listed.csv"]
    else:
        served["/lists/sp500.csv"] = served["/lists/other_listed.csv"]
    with FileServer(served) as server:
        cfg = _config(tmp_path, server.url, ref)
        res = CliRunner().invoke(app, ["symbols", "update", "--config", str(cfg)])
    assert res.exit_code != 0
    message = str(res.exception)
    assert {"truncated": "fewer than 1000", "missing": "HTTP 404", "wrong_format": "expected sp500"}[defect] in message
    assert not any(ref.glob("*.csv"))  # nothing installed: the shipped snapshots stay in use
    assert all(reference_path(k, str(ref)) == snapshot_path(k) for k in KINDS)

"""`az://` against Azurite, Microsoft's storage emulator (npm), when it is installed (`make install` tries).

Only the standard environment variables are set (AZURE_STORAGE_USE_EMULATOR, AZURE_STORAGE_ACCOUNT_NAME,
AZURE_STORAGE_ACCOUNT_KEY, AZURITE_BLOB_STORAGE_URL, AZURE_ALLOW_HTTP): delta-rs and its object store do
the rest, the lock included.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.storage import DeltaStore

PROJECT = Path(__file__).resolve().parents[2]
# the emulator's published development account (not a secret: it is in Microsoft's documentation)
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
T = "stocks_daily_clean"


def _azurite() -> str | None:
    for candidate in (os.environ.get("AZURITE_BLOB"), shutil.which("azurite-blob"),
                      str(PROJECT / ".cache/azurite/node_modules/.bin/azurite-blob")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


pytestmark = pytest.mark.skipif(_azurite() is None, reason="Azurite not installed (npm install --prefix "
                                ".cache/azurite azurite, or `make install` with npm): az:// tests skipped")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    data = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen([str(_azurite()), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                             str(data), "--silent", "--skipApiVersionCheck", "--loose"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip("Azurite did not start")
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_commands_on_az(azurite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AZURE_STORAGE_USE_EMULATOR": "true", "AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT,
           "AZURE_STORAGE_ACCOUNT_KEY": KEY, "AZURITE_BLOB_STORAGE_URL": azurite, "AZURE_ALLOW_HTTP": "true"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pafs.AzureFileSystem(account_name=ACCOUNT, account_key=KEY, blob_storage_authority=azurite.split("://")[1],
                         blob_storage_scheme="http").create_dir("cont")  # the container (delta-rs does not create it)
    root = "az://cont/wh"
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "synthetic", "--table", T, "--stocks", "3", "--crypto", "0", "--start",
                              "2024-03-01", "--end", "2024-04-30", "-w", root])
    assert res.exit_code == 0, (res.output, res.exception)
    res = runner.invoke(app, ["sql", f"SELECT count(DISTINCT symbol) AS n FROM {T}", "-w", root, "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output) == [{"n": 3}], (res.output, res.exception)
    res = runner.invoke(app, ["janitor", "audit", "-w", root, "--json"])
    audit = {e["name"]: e for e in json.loads(res.output)}
    assert audit[T]["rows"] == DeltaStore(root).table_info(T).rows > 0

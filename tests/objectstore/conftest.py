"""A real S3-protocol server on loopback for the object-storage tests: moto's standalone server.

Started once per test process as a subprocess on a free port (`python -m moto.server`), reached over
plain HTTP with the standard environment variables only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP), exactly as a user points marketlake at MinIO or S3.
Every test gets its own bucket. Without moto (`pip install "moto[server]"`, in the `test` extra) the
tests skip, saying so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

try:
    import boto3
    import moto.server  # noqa: F401 - only checks that the server is installed
    HAVE_MOTO = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_MOTO = False

pytestmark = pytest.mark.skipif(not HAVE_MOTO, reason='moto server not installed: pip install "moto[server]"')


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    env: dict[str, str]

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"t-{uuid.uuid4().hex[:16]}"
        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if not HAVE_MOTO:
        pytest.skip('moto server not installed: pip install "moto[server]"')
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true"}
    try:
        yield S3Server(endpoint, env)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server's standard AWS variables set for this test (and for processes it starts)."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server


@pytest.fixture
def s3_root(s3_env: S3Server) -> str:
    """`s3://<new bucket>/wh`: a warehouse URI on the loopback server."""
    return f"s3://{s3_env.bucket()}/wh"


def child_env(server: S3Server) -> dict[str, str]:
    """Environment of a marketlake process: PATH and the like, the source tree, the AWS variables only."""
    from pathlib import Path

    project = Path(__file__).resolve().parents[2]
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MARKETLAKE_"))}
    return {**keep, **server.env, "PYTHONPATH": os.pathsep.join([str(project / "src"), str(project)])}

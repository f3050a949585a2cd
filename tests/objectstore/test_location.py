"""Parsing warehouse locations (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketlake.errors import ConfigError, StorageError
from marketlake.storage.location import UnsupportedLocation, join, parse
from marketlake.storage.lock import writer_lock


@pytest.mark.parametrize(("given", "uri", "family"), [
    ("s3://bucket/wh/", "s3://bucket/wh", "s3"),
    (Path("s3://bucket/wh"), "s3://bucket/wh", "s3"),  # pathlib folds it to s3:/bucket/wh
    ("s3a://bucket/wh", "s3a://bucket/wh", "s3"),
    ("gs://bucket/p", "gs://bucket/p", "gs"),
    ("az://container/p", "az://container/p", "az"),
    ("abfss://container/p", "abfss://container/p", "az"),
])
def test_object_store_uris(given: str, uri: str, family: str) -> None:
    where = parse(given)
    assert (where.uri, where.family, where.remote) == (uri, family, True)


def test_local_paths(tmp_path: Path) -> None:
    assert parse(str(tmp_path / "wh")).uri == str(tmp_path / "wh")
    assert parse(f"file://{tmp_path}/wh").uri == str(tmp_path / "wh")
    assert not parse("./s3:odd").remote  # a ./ prefix makes a colon a plain character


@pytest.mark.parametrize("bad", ["s3:", "s3://", "ftp://h/x", "http://h/x", "hdfs://nn/x", "s3:odd"])
def test_unsupported_or_malformed(bad: str) -> None:
    with pytest.raises(UnsupportedLocation) as err:
        parse(bad)
    assert isinstance(err.value, ConfigError)


def test_join_and_local_lock_refuses_uris(tmp_path: Path) -> None:
    assert join("b/wh", "t", "") == "b/wh/t" and join("b/wh", "") == "b/wh" and join("", "t") == "t"
    with pytest.raises(StorageError), writer_lock("s3://bucket/wh"):
        pass
    assert not (Path.cwd() / "s3:").exists()

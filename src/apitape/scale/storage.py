"""Where shards live: a local path, a shared volume, or object storage (`s3://bucket/prefix`).

Local paths are plain files; a URL goes through fsspec (s3fs for `s3://`), the one module that
imports them, installed with `pip install 'apitape[s3]'`. The S3 endpoint and credentials come
from the usual AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from apitape.errors import UsageError

S3_EXTRA = "pip install 'apitape[s3]'"


def is_url(location: str) -> bool:
    """Whether `location` names object storage (`s3://...`) rather than a local path."""
    return "://" in location and not location.startswith("file://")


def join(location: str, name: str) -> str:
    """`name` inside the directory or prefix `location`."""
    if is_url(location):
        return location.rstrip("/") + "/" + name
    return str(Path(location.removeprefix("file://")) / name)


def _filesystem(url: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"{url}: shards in object storage need fsspec and s3fs: {S3_EXTRA}"
        ) from None
    protocol = url.split("://", 1)[0]
    try:
        return fsspec.filesystem(protocol, **_options(protocol))
    except (ImportError, ValueError) as exc:
        raise UsageError(f"{url}: cannot open {protocol}:// storage ({exc}); {S3_EXTRA}") from None


def _options(protocol: str) -> dict[str, Any]:
    # s3fs reads the credentials from the environment; the endpoint (MinIO, moto, Ceph) too,
    # but only recent botocore reads AWS_ENDPOINT_URL itself.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if protocol in ("s3", "s3a") and endpoint:
        return {"endpoint_url": endpoint}
    return {}


def upload(local: Path, location: str) -> None:
    """Copy the local file `local` to `location` (a path or a URL)."""
    if is_url(location):
        _filesystem(location).put_file(str(local), location)
        return
    target = Path(location.removeprefix("file://"))
    if target.resolve() != local.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)


def download(location: str, directory: Path) -> Path:
    """A local file holding what is at `location`: the file itself when it is local, else a
    copy in `directory`."""
    if not is_url(location):
        path = Path(location.removeprefix("file://"))
        if not path.is_file():
            raise UsageError(f"{location}: no such file; give a shard manifest or cassettes")
        return path
    local = directory / location.rstrip("/").rsplit("/", 1)[-1]
    try:
        _filesystem(location).get_file(location, str(local))
    except FileNotFoundError:
        raise UsageError(f"{location}: no such object") from None
    return local


def read_text(location: str) -> str:
    """The text of a small file (a manifest) at `location`."""
    if not is_url(location):
        try:
            return Path(location.removeprefix("file://")).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{location}: cannot be read ({exc.strerror})") from None
    try:
        with _filesystem(location).open(location, "rb") as handle:
            data: bytes = handle.read()
    except FileNotFoundError:
        raise UsageError(f"{location}: no such object") from None
    return data.decode("utf-8")


def write_text(location: str, text: str) -> None:
    """Write a small file (a manifest) to `location`."""
    if not is_url(location):
        path = Path(location.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    with _filesystem(location).open(location, "wb") as handle:
        handle.write(text.encode("utf-8"))

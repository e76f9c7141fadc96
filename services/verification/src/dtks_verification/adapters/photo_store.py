"""Where field photos' bytes are kept, content-addressed by their SHA-256 (the hex digest is the key):
one interface, the local filesystem in development and an S3-compatible object store in deployments."""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


# Field photos' file work (hashing and reading 2 MB, writing it with an fsync) waits mostly on the
# disk. asyncio's default pool has cpu + 4 threads (6 on a 2-core node), shared with every other
# to_thread of the service: 50 officers' uploads queued there behind each other's fsyncs. Their own
# pool lets concurrent writes reach the disk together (the filesystem commits its journal for several
# fsyncs at once); threads start only as uploads need them.
PHOTO_THREADS = 32
_photo_pool = ThreadPoolExecutor(PHOTO_THREADS, thread_name_prefix="photos")


async def in_photo_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the photos' own thread pool."""
    return await asyncio.get_running_loop().run_in_executor(_photo_pool, functools.partial(fn, *args))


class PhotoStore(Protocol):
    async def put(self, sha256: str, data: bytes, content_type: str) -> None: ...
    async def get(self, sha256: str) -> bytes | None: ...
    async def exists(self, sha256: str) -> bool: ...


class FilesystemPhotoStore:
    """Files under ``root/ab/abcdef...``; written to a temporary name and renamed, so a reader never
    sees half a photo and two uploads of the same bytes leave one whole file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def _put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def put(self, sha256: str, data: bytes, content_type: str) -> None:
        await in_photo_thread(self._put, sha256, data)

    async def get(self, sha256: str) -> bytes | None:
        path = self._path(sha256)
        return await in_photo_thread(path.read_bytes) if path.exists() else None

    async def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()


class S3PhotoStore:
    """An S3-compatible bucket through boto3 (its calls block, so they run in worker threads)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "photos/") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def _key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256}"

    async def put(self, sha256: str, data: bytes, content_type: str) -> None:
        await in_photo_thread(
            functools.partial(
                self.client.put_object,
                Bucket=self.bucket,
                Key=self._key(sha256),
                Body=data,
                ContentType=content_type,
            )
        )

    async def get(self, sha256: str) -> bytes | None:
        def read() -> bytes | None:
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
            except self.client.exceptions.NoSuchKey:
                return None
            return bytes(answer["Body"].read())

        return await in_photo_thread(read)

    async def exists(self, sha256: str) -> bool:
        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
            except self.client.exceptions.ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            return True

        return await in_photo_thread(head)


def s3_store(endpoint_url: str | None, bucket: str, region: str) -> S3PhotoStore:
    """The credentials come the standard AWS way (AWS_ACCESS_KEY_ID, ... or the instance's role)."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
    return S3PhotoStore(client, bucket)

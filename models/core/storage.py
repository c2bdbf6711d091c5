"""Files that every process can read: export CSVs and uploaded media.

A file is named by a key, a relative path such as ``media/products/ab12.jpg``
or ``exports/<uuid>.csv``. Where the files live is a setting:

- ``STORAGE_URL`` unset (development, one machine): under ``DATA_DIR``, the
  key being the path below it (``DATA_DIR/media/…``, ``DATA_DIR/exports/…``).
- ``STORAGE_URL=s3://BUCKET/PREFIX``: in an S3-compatible object store
  (``S3_ENDPOINT_URL`` for one other than AWS; credentials from
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_DEFAULT_REGION``),
  the object being ``PREFIX/<key>``. Every web process, worker and machine
  then sees the same files, whichever wrote them.

boto3 blocks, so each call runs in this module's thread pool, never on the
event loop. Missing files raise ``FileNotFoundError`` whatever the backend.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import mimetypes
import os
import threading
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse

import settings
from settings import ConfigError

CHUNK_BYTES = 256 * 1024
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="storage")


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


async def _run(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


class LocalStorage:
    """Files under one directory (``DATA_DIR``): a single machine's storage."""

    shared = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise FileNotFoundError(key)  # ``..`` in a key never leaves the root
        return path

    def scratch_path(self, key: str) -> str:
        """A local file to build ``key`` in before ``put_file`` (same filesystem: a rename)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"{path}.part"

    def _put_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.part"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await _run(self._put_bytes, key, data)

    async def put_file(self, key: str, local_path: str) -> None:
        """Move the finished file ``local_path`` to ``key`` (atomically: readers see all or nothing)."""
        def move() -> None:
            path = self.path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(local_path, path)
        await _run(move)

    async def read(self, key: str) -> bytes:
        return await _run(self.path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        try:
            return await _run(self.path(key).is_file)
        except FileNotFoundError:
            return False

    async def delete(self, key: str) -> None:
        try:
            await _run(lambda: self.path(key).unlink(missing_ok=True))
        except FileNotFoundError:
            pass

    async def open(self, key: str) -> tuple[int, AsyncIterator[bytes]]:
        """The size of ``key`` and its bytes in chunks (FileNotFoundError at once if missing)."""
        fh = await _run(open, self.path(key), "rb")
        size = await _run(lambda: os.fstat(fh.fileno()).st_size)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while data := await _run(fh.read, CHUNK_BYTES):
                    yield data
            finally:
                await _run(fh.close)
        return size, chunks()


class S3Storage:
    """Objects ``PREFIX/<key>`` in one bucket of an S3-compatible store."""

    shared = True

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._pid = 0
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        # One client per process (a client does not survive a fork); boto3
        # clients are thread-safe, so the pool's threads share it.
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.session.Session().client(
                        "s3", endpoint_url=settings.S3_ENDPOINT_URL,
                        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
                        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
                        region_name=settings.AWS_DEFAULT_REGION,
                        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3},
                                      max_pool_connections=16))
                    self._pid = os.getpid()
        return self._client

    def name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in {"NoSuchKey", "404", "NotFound"}

    def scratch_path(self, key: str) -> str:
        path = settings.DATA_DIR / "scratch" / f"{key.replace('/', '_')}.part"
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await _run(lambda: self.client.put_object(Bucket=self.bucket, Key=self.name(key), Body=data,
                                                  ContentType=content_type(key)))

    async def put_file(self, key: str, local_path: str) -> None:
        def upload() -> None:
            self.client.upload_file(local_path, self.bucket, self.name(key),
                                    ExtraArgs={"ContentType": content_type(key)})
            os.unlink(local_path)
        await _run(upload)

    async def read(self, key: str) -> bytes:
        size, chunks = await self.open(key)
        return b"".join([c async for c in chunks])

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await _run(lambda: self.client.head_object(Bucket=self.bucket, Key=self.name(key)))
            return True
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise

    async def delete(self, key: str) -> None:
        await _run(lambda: self.client.delete_object(Bucket=self.bucket, Key=self.name(key)))

    async def open(self, key: str) -> tuple[int, AsyncIterator[bytes]]:
        from botocore.exceptions import ClientError

        try:
            obj = await _run(lambda: self.client.get_object(Bucket=self.bucket, Key=self.name(key)))
        except ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(key) from None
            raise
        body = obj["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while data := await _run(body.read, CHUNK_BYTES):
                    yield data
            finally:
                await _run(body.close)
        return int(obj["ContentLength"]), chunks()

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (development and tests; production buckets exist)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


def from_url(url: str | None) -> LocalStorage | S3Storage:
    if not url:
        return LocalStorage(settings.DATA_DIR)
    parts = urlparse(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"STORAGE_URL must look like s3://BUCKET/PREFIX, got {url!r}")
    return S3Storage(parts.netloc, parts.path)


_storage: LocalStorage | S3Storage | None = None


def get() -> LocalStorage | S3Storage:
    """The process's storage, as the settings say."""
    global _storage
    if _storage is None:
        _storage = from_url(settings.STORAGE_URL)
    return _storage


def reset() -> None:
    """Forget the storage chosen (tests change ``settings.STORAGE_URL``)."""
    global _storage
    _storage = None

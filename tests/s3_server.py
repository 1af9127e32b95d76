"""A real S3-protocol server for the tests: moto's standalone server in its own process on
loopback (the code under test talks HTTP to it exactly as to AWS or MinIO; no client is
mocked)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conftest import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen
    log_path: Path
    _client: Any = None

    def client(self) -> Any:
        """A client of this server (one, reused: making one takes a tenth of a second)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"cdrex-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def service_env(self, bucket: str, prefix: str = "exports") -> dict[str, str]:
        """What a cdrex process needs to keep its export files in ``bucket``."""
        return {
            "CDREX_STORAGE_URL": f"s3://{bucket}/{prefix}",
            "CDREX_S3_ENDPOINT_URL": self.endpoint,
            **CREDENTIALS,
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_s3_server(log_dir: Path) -> S3Server:
    port = free_port()
    log_path = log_dir / f"moto-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
        )
    server = S3Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"moto server exited: {log_path.read_text()}")
        try:
            httpx.get(server.endpoint + "/moto-api/", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.stop()
    raise AssertionError(f"moto server did not start: {log_path.read_text()}")

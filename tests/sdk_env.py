"""DIDWW's official Python SDKs, installed from PyPI as they are, each in a venv of its own,
and a way to run small scripts with them (JSON in on stdin, JSON out on stdout).

The venvs are made once per test session (the `sdk_envs` fixture in conftest.py), all at
once in background threads so that they install while the server under test starts. A venv
that cannot be made fails every test that asks for it: those tests never skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

# The SDK releases the suites drive, and the API version each one pins (X-DIDWW-API-Version).
SDK_API_VERSIONS = {"2.0.0": "2022-05-10", "3.2.0": "2026-04-16"}


class SdkSetupError(Exception):
    pass


def create_sdk_venv(venv: Path, version: str) -> Path:
    """``python -m venv VENV && VENV/bin/pip install didww==VERSION``; returns its python."""
    python = venv / "bin" / "python"
    for command in (
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"didww=={version}",
        ],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise SdkSetupError(
                f"cannot set up the didww=={version} venv: {' '.join(command)} exited "
                f"{done.returncode}\n{done.stdout}\n{done.stderr}"
            )
    return python


class SdkEnvs:
    """One venv per SDK version under ``root``, created on first request (or ahead of it
    with ``prepare``); a failed install is remembered and fails every later request."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._pool = ThreadPoolExecutor(max_workers=len(SDK_API_VERSIONS))
        self._futures: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()

    def prepare(self, *versions: str) -> None:
        """Start installing these versions in the background."""
        with self._lock:
            for version in versions:
                if version not in self._futures:
                    venv = self._root / f"didww-{version}"
                    self._futures[version] = self._pool.submit(create_sdk_venv, venv, version)

    def python(self, version: str) -> Path:
        """The venv's python for this SDK version; fails the calling test if it cannot be
        installed."""
        self.prepare(version)
        try:
            return self._futures[version].result()
        except SdkSetupError as error:
            pytest.fail(str(error), pytrace=False)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def run_sdk_script(python: Path, script: str, args: object, timeout: float = 60) -> object:
    """Run ``script`` with the SDK venv's python, ``args`` as JSON on its stdin; returns the
    JSON value it prints last. A script that fails (an exception the SDK should not have
    raised, say) fails the test with its stderr."""
    done = subprocess.run(
        [str(python), "-c", script],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        pytest.fail(
            f"SDK script exited {done.returncode}:\n{done.stderr}\n{done.stdout}", pytrace=False
        )
    lines = done.stdout.strip().splitlines()
    assert lines, f"SDK script printed nothing: {done.stderr}"
    return json.loads(lines[-1])

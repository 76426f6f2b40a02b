"""The image tests' Docker: the `docker` CLI and the image `make test-image` built (`$RELATEDLY_TEST_IMAGE`, else
`relatedly:test`); every container and volume a test makes is removed after it. Ports are published on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

IMAGE = os.environ.get("RELATEDLY_TEST_IMAGE", "relatedly:test")
CONTAINER_PORT = 8000


def wait_until(condition: Callable[[], bool], timeout_seconds: float, what: str) -> float:
    """Poll `condition` until it holds; the seconds it took, or a failure naming `what` after the timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_seconds:
            pytest.fail(f"{what}: not within {timeout_seconds:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - start


@dataclass
class Container:
    """A detached container of the image, its port published on 127.0.0.1."""

    docker: Docker
    id: str
    port: int

    def get(self, path: str) -> tuple[int, Any]:
        """Status and JSON body of a GET (status 0 while nothing answers)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

    def post(self, path: str, body: Mapping[str, Any]) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "text/plain"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def health(self) -> str:
        return self.docker("inspect", "--format", "{{.State.Health.Status}}", self.id).stdout.strip()

    def exec(self, *command: str) -> str:
        """Run a command inside as the image's user; its stdout (a failure shows its stderr)."""
        return self.docker("exec", self.id, *command).stdout


class Docker:
    """The docker CLI; remembers the containers and volumes it made so `remove_all` leaves nothing behind."""

    def __init__(self) -> None:
        self.prefix = f"relatedly-test-{uuid.uuid4().hex[:8]}"
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def volume(self) -> str:
        name = f"{self.prefix}-{len(self.volumes)}"
        self("volume", "create", name)
        self.volumes.append(name)
        return name

    def run(self, *command: str, mounts: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`docker run --rm` of a command in a fresh container; the result whatever its exit code."""
        return self("run", "--rm", *_mount_args(mounts), IMAGE, *command, check=False)

    def start(self, mounts: Mapping[str, str] | None = None) -> Container:
        """A detached container running the image's own command (`relatedly serve`)."""
        name = f"{self.prefix}-{len(self.containers)}"
        self.containers.append(name)
        self("run", "--detach", "--name", name, "--publish", f"127.0.0.1::{CONTAINER_PORT}",
             *_mount_args(mounts), IMAGE)
        host_port = self("port", name, str(CONTAINER_PORT)).stdout.splitlines()[0].rsplit(":", 1)[1]
        return Container(self, name, int(host_port))

    def remove_all(self) -> None:
        for name in self.containers:
            self("rm", "--force", "--volumes", name, check=False)
        for name in self.volumes:
            self("volume", "rm", "--force", name, check=False)


def _mount_args(mounts: Mapping[str, str] | None) -> list[str]:
    return [arg for source, target in (mounts or {}).items() for arg in ("--volume", f"{source}:{target}")]


@pytest.fixture(scope="session")
def image() -> dict[str, Any]:
    """The image's configuration; fails (never skips) when there is no such image."""
    result = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"no image {IMAGE} ({result.stderr.strip()}): `make test-image` builds it and runs these tests")
    return json.loads(result.stdout)[0]["Config"]


@pytest.fixture
def docker(image: dict[str, Any]) -> Iterator[Docker]:
    client = Docker()
    try:
        yield client
    finally:
        client.remove_all()

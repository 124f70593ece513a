"""What the benchmarks share: the smscli script, an isolated environment, a sandbox process.

Imported as ``common`` (the benchmarks run as scripts: ``python tests/benchmarks/bench_….py``
puts this folder first on sys.path). Not collected by pytest (no test_ functions).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SMSCLI = str(BIN / "smscli") if (BIN / "smscli").exists() else shutil.which("smscli") or "smscli"


def isolated_env(home: Path) -> dict[str, str]:
    """The environment without SMSCLI_* from outside, with config, history and token cache
    under ``home``; byte-code caching on, as on a user's machine (some CI images turn it
    off)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SMSCLI_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env |= {
        "SMSCLI_CONFIG": str(home / "config.toml"),
        "SMSCLI_DATA_DIR": str(home / "data"),
        "SMSCLI_CACHE_DIR": str(home / "cache"),
    }
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SandboxProcess:
    """`smscli sandbox` on a free port, until close()."""

    def __init__(self, env: dict[str, str]) -> None:
        port = free_port()
        self.proc = subprocess.Popen(
            [SMSCLI, "sandbox", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise SystemExit(f"smscli sandbox exited with {self.proc.returncode}")
            time.sleep(0.05)
        self.close()
        raise SystemExit("smscli sandbox did not start within 20 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temporary directory as an
unprivileged user, ``pg_ctl start`` on a free 127.0.0.1 port (its socket in that directory),
stopped and removed at the end.

Used two ways:
- ``.ci/run``: ``python -m tests.pg_server start DIR`` prints the URL to export as
  ``SMSCLI_TEST_POSTGRES_URL``; ``python -m tests.pg_server stop DIR`` (in a trap) stops it;
- tests/conftest.py, when ``SMSCLI_TEST_POSTGRES_URL`` is unset: ``start()`` / ``stop()`` around
  the test session (so the README's one test command works where the server is installed).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

USER = "smscli"  # the database superuser initdb creates
DATABASE = "smscli_test"


class Unavailable(RuntimeError):
    """No PostgreSQL server could be started (the message says why)."""


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("no PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb, PATH)")


def _version(path: str) -> tuple[int, ...]:
    part = path.split("/")[4]
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(argv: list[str], owner: str | None) -> list[str]:
    """root may not run the server: run it as ``owner`` (nobody)."""
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


def start(directory: Path) -> str:
    """Start a server with its data in ``directory`` (created); returns the URL of a fresh
    database on it, its password in the URL (a test-only random one)."""
    tools = bin_dir()
    directory.mkdir(parents=True, exist_ok=True)
    owner = None
    if os.geteuid() == 0:
        owner = "nobody"
        entry = pwd.getpwnam(owner)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    directory.chmod(0o700)
    password = secrets.token_hex(16)
    pwfile = directory / "pwfile"
    pwfile.write_text(password + "\n")
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(argv: list[str]) -> None:
        done = subprocess.run(_as_owner(argv, owner), capture_output=True, text=True, env=env,
                              timeout=120, cwd="/", check=False)  # fmt: skip
        if done.returncode != 0:
            log = directory / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise Unavailable(
                f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()} {tail}"
            )

    run([str(tools / "initdb"), "-D", str(data), "-U", USER, "-A", "scram-sha-256",
         f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"])  # fmt: skip
    pwfile.unlink()
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory}"
               " -c fsync=off -c max_connections=200")  # fmt: skip
    (directory / "port").write_text(str(port))
    run([str(tools / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"),
         "-o", options, "-w", "-t", "60", "start"])  # fmt: skip
    url = f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return url.rsplit("/", 1)[0] + f"/{DATABASE}"


def stop(directory: Path) -> None:
    """Stop the server of ``directory`` (if it runs) and remove the directory."""
    data = directory / "data"
    if (data / "postmaster.pid").exists():
        owner = "nobody" if os.geteuid() == 0 else None
        subprocess.run(_as_owner([str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast",
                                  "-w", "stop"], owner),
                       capture_output=True, timeout=60, cwd="/", check=False)  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] in ("start", "stop"):
        directory = Path(argv[1])
        if argv[0] == "stop":
            stop(directory)
            return 0
        try:
            print(start(directory))
        except (Unavailable, OSError, KeyError) as exc:
            print(f"cannot start PostgreSQL: {exc}", file=sys.stderr)
            stop(directory)
            return 1
        return 0
    print("usage: python -m tests.pg_server start|stop DIR", file=sys.stderr)
    return 2


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="smscli-pg-"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`smscli --lock NAME [--lock-strict] COMMAND …`: the root options that run COMMAND only
when no other run holds NAME (smscli.locks). The lock is taken before COMMAND runs and
given back when it ends (the root context closes); a process that dies loses it anyway."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from smscli.commands.common import execute, output_mode
from smscli.errors import ConfigError, LockHeld, SmscliError, UsageError


def hold(ctx: Any, name: str | None, strict: bool, argv: Sequence[str]) -> None:
    """Take lock ``name`` for the command about to run, or end the run here: exit 0 with
    ``skipped: …`` on stderr (and ``{"skipped": true, "lock": …}`` on stdout with --json),
    or exit 11 with --lock-strict. A bad NAME (or --lock-strict alone) is a usage error,
    exit 2."""
    from smscli.locks import check_name, lock_for

    mode = "json" if "--json" in argv else "jsonl" if "--jsonl" in argv else "human"
    try:
        if name is None:
            raise UsageError("--lock-strict needs --lock NAME")
        check_name(name)
        lock = lock_for(_history_of(argv))
        try:
            holder = lock.acquire(name)
        except OSError as exc:
            raise ConfigError(
                f"cannot take --lock {name}: {exc.filename or ''}: {exc.strerror or exc}",
                hint="make the data directory writable (or set SMSCLI_DATA_DIR)",
                code="lock_unavailable",
            ) from None
    except SmscliError as err:
        _end(mode, err)
    if holder is None:
        ctx.call_on_close(lock.release)
        return  # held: the command runs
    if strict:
        _end(mode, LockHeld(f"--lock {holder.describe()}", hint="without --lock-strict it exits 0"))

    def skipped(out: Any) -> int:
        out.trace(f"skipped: {holder.describe()}")
        if out.mode in ("json", "jsonl"):  # (one line: a JSON document, or a JSONL record)
            out.json({"skipped": True, "lock": holder.to_json()})
        return 0

    execute(lambda: output_mode(json=mode == "json", jsonl=mode == "jsonl"), skipped)


def _history_of(argv: Sequence[str]) -> Callable[[], Any]:
    """A factory of the command's history (not opened): where the lock lives. The config
    is the command's ``--config PATH`` (read from its arguments: the root options are read
    first), else SMSCLI_CONFIG or the user's."""
    from smscli import config as config_mod
    from smscli.pipeline.sessions import open_history

    explicit = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            explicit = argv[i + 1]
        elif arg.startswith("--config="):
            explicit = arg.partition("=")[2]
    cfg = config_mod.load(config_mod.config_path(explicit))
    return lambda: open_history(cfg)


def _end(mode: str, err: SmscliError) -> NoReturn:
    """The error line (or JSON error object) and its exit code."""

    def fail(out: Any) -> int:
        raise err

    execute(lambda: output_mode(json=mode == "json", jsonl=mode == "jsonl"), fail)

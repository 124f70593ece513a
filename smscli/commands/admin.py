"""`smscli providers`, `smscli doctor`, `smscli logout` and `smscli sandbox`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smscli.commands.common import (
    ConfigOpt,
    JsonOpt,
    ProfileOpt,
    execute,
    output_mode,
    runtime_of,
)

FEATURES = ("sender", "at", "validity", "ref", "binary", "status")
FEATURE_FLAGS = {
    "sender": "--from",
    "at": "--at",
    "validity": "--validity",
    "ref": "--ref",
    "binary": "binary",
    "status": "status",
}


def provider_rows() -> list[dict[str, Any]]:
    """The providers as data: `smscli providers` and the README table both use it."""
    from smscli.catalog import REGISTRY

    return [
        {
            "slug": p.slug,
            "label": p.label,
            "targets": list(p.target_kinds),
            "limits": p.limits.notes,
            "max_segments": p.limits.max_segments,
            "features": {FEATURE_FLAGS[f]: getattr(p.features, f) for f in FEATURES},
            "fields": [f.name + ("*" if f.secret else "") for f in p.fields],
            "default_base_url": p.default_base_url,
        }
        for p in REGISTRY.values()
    ]


def providers(json: JsonOpt = False) -> None:
    """List the providers: target kinds, limits and supported options."""

    def body(out: Any) -> int:
        rows = provider_rows()
        if out.mode == "json":
            out.json({"providers": rows})
            return 0
        out.table(
            ["provider", "targets", "limits", "supports", "profile fields (* secret)"],
            (
                [
                    f"{r['slug']}\n{r['label']}",
                    ", ".join(r["targets"]),
                    r["limits"],
                    ", ".join(k for k, v in r["features"].items() if v),
                    ", ".join(r["fields"]),
                ]
                for r in rows
            ),
        )
        return 0

    execute(lambda: output_mode(json=json), body)


def doctor(
    ctx: typer.Context,
    profile: ProfileOpt = None,
    provider: Annotated[
        str | None, typer.Option("--provider", metavar="SLUG", help="Provider slug.")
    ] = None,
    json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Check config, credentials (a real login), reachability and clock; say what to fix.

    Example: smscli doctor -p fleet
    """
    runtime = runtime_of(ctx)

    def body(out: Any) -> int:
        from smscli.doctor import run_doctor

        return run_doctor(profile, provider, config, runtime, out)

    execute(lambda: output_mode(json=json), body)


def logout(
    ctx: typer.Context,
    profile: ProfileOpt = None,
    provider: Annotated[
        str | None, typer.Option("--provider", metavar="SLUG", help="Provider slug.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Forget every cached token.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Forget cached sessions and tokens (and end the session where the API allows).

    Example: smscli logout -p fleet
    """
    runtime = runtime_of(ctx)

    def body(out: Any) -> int:
        from smscli.doctor import run_logout

        return run_logout(profile, provider, all_, config, runtime, out)

    execute("human", body)


def sandbox(
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port (0 = any free port)."),
    ] = 8025,
    spec_strict: Annotated[
        bool,
        typer.Option(
            "--spec-strict",
            help="Answer exactly as the published API specs say where recorded production "
            "differs (e.g. emnify's 201 with {} and no Location).",
        ),
    ] = False,
    max_messages: Annotated[
        int,
        typer.Option(
            "--max-messages",
            metavar="N",
            min=1,
            help="Messages kept in memory; past N the oldest final ones are dropped first.",
        ),
    ] = 10_000,
) -> None:
    """Serve local emulators of every provider API (for trying and testing scripts).

    Example: smscli sandbox --port 8025, then base_url = "http://127.0.0.1:8025/emnify"
    """

    def body(out: Any) -> int:
        from smscli.errors import UsageError
        from smscli.sandbox.base import MAGIC
        from smscli.sandbox.server import Sandbox, SandboxServer, mounts

        try:
            server = SandboxServer(
                Sandbox(spec_strict=spec_strict, max_messages=max_messages), host, port
            )
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        out.note(f"smscli sandbox listening on {server.url}")
        for slug in mounts():
            out.note(f'  base_url = "{server.url}/{slug}"')
        out.note(f"  GET {server.url}/_sandbox/messages lists what it received")
        out.note(f"  GET {server.url}/_sandbox/logins counts the logins it answered and refused")
        out.note(f"  GET {server.url}/_sandbox/pushes lists the callbacks it pushed")
        out.note("magic targets (any kind whose value ends with):")
        for suffix, what in MAGIC.items():
            out.note(f"  …{suffix}  {what}")
        out.note(
            "devices answer each delivered message ending in '?' with 'ACK: <text>' "
            "about a second later"
        )
        if spec_strict:
            out.note("--spec-strict: answers as the published specs say, not as production does")
        out.note("any other credentials and well-formed targets are accepted; Ctrl-C stops")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            out.note("sandbox stopped")
        finally:
            server.httpd.server_close()
        return 0

    execute("human", body)

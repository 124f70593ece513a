"""`smscli send` and the five provider subcommands, built from one list of shared options.

Every sending command has the same flags (SPEC §2) plus the credential flags of its
provider's fields (from the catalog) plus its provider's own options
(``commands/<slug>.py``: ``HELP``, ``options()``, ``extra()``). Building them from one list
keeps the names identical everywhere.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from smscli.catalog import REGISTRY, CredentialField
from smscli.commands.common import execute, output_mode, runtime_of

KW = inspect.Parameter.KEYWORD_ONLY
MSG, TGT, SND, OUT, CRED = "Message", "Targets", "Sending", "Output", "Credentials"


def _opt(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, KW, default=default, annotation=annotation)


def _o(
    name: str,
    type_: Any,
    decls: tuple[str, ...],
    help_text: str,
    panel: str,
    default: Any = None,
    **kw: Any,
) -> inspect.Parameter:
    option = typer.Option(*decls, help=help_text, rich_help_panel=panel, **kw)
    return _opt(name, Annotated[type_, option], default)


def shared_parameters() -> list[inspect.Parameter]:
    """The options of every sending command, in help order."""
    return [
        inspect.Parameter(
            "text",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Argument(help="Message text; '-' or a pipe reads stdin.", show_default=False),
            ],
        ),
        _o(
            "to",
            list[str] | None,
            ("--to", "-t"),
            "KIND:VALUE or a phone number; repeatable.",
            TGT,
            metavar="TARGET",
        ),
        _o(
            "to_file",
            str | None,
            ("--to-file",),
            "Targets, one per line or CSV with a 'to' column; '-' = stdin.",
            TGT,
            metavar="PATH",
        ),
        _o(
            "template",
            bool,
            ("--template",),
            "TEXT has {column} placeholders filled from each --to-file CSV row.",
            TGT,
            default=False,
        ),
        _o(
            "skip_invalid",
            bool,
            ("--skip-invalid",),
            "Send the valid targets and report the invalid ones (default: send nothing).",
            TGT,
            default=False,
        ),
        _o("file", str | None, ("--file",), "Read the message from a file.", MSG, metavar="PATH"),
        _o(
            "sender",
            str | None,
            ("--from", "-f"),
            "Sender: E.164 number, short code or alphanumeric (1-11).",
            MSG,
            metavar="SENDER",
        ),
        _o(
            "encoding",
            str,
            ("--encoding",),
            "auto | gsm7 | ucs2 | binary.",
            MSG,
            metavar="ENCODING",
            default="auto",
        ),
        _o("hex", bool, ("--hex",), "TEXT is binary data in hex.", MSG, default=False),
        _o("base64", bool, ("--base64",), "TEXT is binary data in base64.", MSG, default=False),
        _o(
            "smart",
            bool,
            ("--smart",),
            "Replace look-alike characters (’ “ ” – …) to stay in GSM-7.",
            MSG,
            default=False,
        ),
        _o(
            "max_segments",
            int | None,
            ("--max-segments",),
            "Refuse messages longer than N segments.",
            MSG,
            metavar="N",
            min=1,
        ),
        _o(
            "validity",
            str | None,
            ("--validity",),
            "How long the network tries: 90s, 30m, 2h, 3d.",
            SND,
            metavar="DURATION",
        ),
        _o("at", str | None, ("--at",), "Schedule: ISO 8601 or +DURATION.", SND, metavar="WHEN"),
        _o(
            "ref",
            str | None,
            ("--ref",),
            "Your reference (stored locally; sent where the API has one).",
            SND,
            metavar="REF",
        ),
        _o(
            "idempotency_key",
            str | None,
            ("--idempotency-key",),
            "Never send twice under this key.",
            SND,
            metavar="KEY",
        ),
        _o(
            "force",
            bool,
            ("--force",),
            "Send even if an earlier attempt's outcome is unknown.",
            SND,
            default=False,
        ),
        _o(
            "wait",
            str | None,
            ("--wait",),
            "After acceptance, wait for delivery (--wait or --wait=10m).",
            SND,
            metavar="DURATION",
            show_default=False,
        ),
        _o(
            "dry_run",
            bool,
            ("--dry-run",),
            "Print the HTTP request(s), secrets redacted; send nothing.",
            SND,
            default=False,
        ),
        _o(
            "timeout",
            float | None,
            ("--timeout",),
            "Seconds per HTTP request (default 30).",
            SND,
            metavar="SECONDS",
            min=0.1,
        ),
        _o(
            "sandbox",
            bool,
            ("--sandbox",),
            "Send to a local emulator of the API started for this command.",
            SND,
            default=False,
        ),
        _o(
            "base_url",
            str | None,
            ("--base-url",),
            "API base URL (overrides the profile).",
            SND,
            metavar="URL",
        ),
        _o(
            "no_history",
            bool,
            ("--no-history",),
            "Do not record this send in the history.",
            SND,
            default=False,
        ),
        _o(
            "yes", bool, ("--yes",), "Confirm sending to more than 100 targets.", SND, default=False
        ),
        _o(
            "concurrency",
            int,
            ("--concurrency",),
            "Requests in flight at once for many targets.",
            SND,
            metavar="N",
            default=4,
            min=1,
            max=64,
        ),
        _o(
            "rate",
            float | None,
            ("--rate",),
            "Messages per second (default: the provider's documented limit; 0 = no limit).",
            SND,
            metavar="PER_SECOND",
            min=0,
        ),
        _o(
            "resume",
            str | None,
            ("--resume",),
            "Re-run batch BATCH: skip targets it already sent (unknown ones need --force).",
            SND,
            metavar="BATCH",
        ),
        _o(
            "profile",
            str | None,
            ("--profile", "-p"),
            "Profile from the config file (env SMSCLI_PROFILE).",
            CRED,
            metavar="NAME",
        ),
        _o("config", str | None, ("--config",), "Config file path.", CRED, metavar="PATH"),
        _o("json", bool, ("--json",), "One JSON document on stdout.", OUT, default=False),
        _o(
            "jsonl",
            bool,
            ("--jsonl",),
            "One JSON RESULT per line as each completes.",
            OUT,
            default=False,
        ),
        _o("quiet", bool, ("--quiet", "-q"), "Only the message id(s).", OUT, default=False),
        _o(
            "verbose",
            bool,
            ("--verbose", "-v"),
            "HTTP trace on stderr (secrets redacted).",
            OUT,
            default=False,
        ),
    ]


def credential_parameters(fields: list[CredentialField]) -> list[inspect.Parameter]:
    params = []
    for f in fields:
        help_text = f.help + (" (secret: prefer the env var)" if f.secret else "")
        annotation = Annotated[
            str | None,
            typer.Option(
                f.flag,
                help=help_text,
                rich_help_panel=CRED,
                show_default=False,
                metavar="SECRET" if f.secret else "VALUE",
            ),
        ]
        params.append(_opt("cred_" + f.name, annotation))
    return params


def fields_of(slug: str | None) -> list[CredentialField]:
    infos = [REGISTRY[slug]] if slug else list(REGISTRY.values())
    seen: dict[str, CredentialField] = {}
    for info in infos:
        for f in info.fields:
            seen.setdefault(f.name, f)
    return list(seen.values())


def make_send_command(slug: str | None) -> Callable[..., None]:
    """Build `smscli send` (slug None) or `smscli <slug>`."""
    module = importlib.import_module(f"smscli.commands.{slug}") if slug else None
    extra_params: list[inspect.Parameter] = module.options() if module else []
    if slug is None:
        extra_params = [
            _opt(
                "provider",
                Annotated[
                    str | None,
                    typer.Option(
                        "--provider",
                        metavar="SLUG",
                        help="Provider slug instead of a profile (credentials from flags/env).",
                        rich_help_panel=CRED,
                    ),
                ],
            )
        ]
    fields = fields_of(slug)
    extra_names = [p.name for p in extra_params]

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        from smscli.pipeline import SendOptions, run_send

        runtime = runtime_of(ctx)

        def body(out: Any) -> int:
            extras = {name: kwargs.pop(name) for name in extra_names}
            provider = slug or extras.pop("provider", None)
            opts = SendOptions(
                provider=provider,
                profile=kwargs["profile"],
                config=kwargs["config"],
                to=list(kwargs["to"] or []),
                to_file=kwargs["to_file"],
                text=kwargs["text"],
                file=kwargs["file"],
                hex=kwargs["hex"],
                base64=kwargs["base64"],
                encoding=kwargs["encoding"],
                smart=kwargs["smart"],
                max_segments=kwargs["max_segments"],
                sender=kwargs["sender"],
                validity=kwargs["validity"],
                at=kwargs["at"],
                ref=kwargs["ref"],
                idempotency_key=kwargs["idempotency_key"],
                force=kwargs["force"],
                wait=kwargs["wait"],
                dry_run=kwargs["dry_run"],
                timeout=kwargs["timeout"],
                verbose=kwargs["verbose"],
                history=not kwargs["no_history"],
                yes=kwargs["yes"],
                template=kwargs["template"],
                skip_invalid=kwargs["skip_invalid"],
                concurrency=kwargs["concurrency"],
                rate=kwargs["rate"],
                resume=kwargs["resume"],
                sandbox=kwargs["sandbox"],
                base_url=kwargs["base_url"],
                credentials={f.name: kwargs["cred_" + f.name] for f in fields},
                extra=module.extra(extras) if module else {},
            )
            return run_send(opts, runtime, out)

        execute(lambda: output_mode(kwargs["json"], kwargs["jsonl"], kwargs["quiet"]), body)

    parameters = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *shared_parameters(),
        *credential_parameters(fields),
        *extra_params,
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__name__ = slug or "send"
    if module is not None:
        command.__doc__ = module.HELP
    else:
        command.__doc__ = (
            "Send an SMS with the provider of a profile.\n\n"
            "Example: smscli send -p fleet -t iccid:8988303000006734768 'reboot'\n\n"
            "Try it with no account: smscli send --sandbox --provider emnify "
            "-t endpoint:1001 Hello"
        )
    return command

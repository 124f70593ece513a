"""`smscli send` and the provider subcommands, built from data in one place.

Every sending command has the same options (``SHARED``: one typed list, SPEC §2), the
credential flags of its provider's fields, and its provider's own options (the declaration's
``ProviderOption``s, smscli.catalog). ``_parameter`` turns each of them into a Typer
parameter; the values come back as ``pipeline.SendOptions`` through the ``dest`` of each
shared option, so a new shared option is one entry here and one SendOptions field (a test
checks that they agree).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import typer

from smscli.catalog import REGISTRY, CredentialField, ProviderInfo, ProviderOption
from smscli.commands.common import (
    ENCODING_HELP,
    TIMEOUT_HELP,
    execute,
    output_mode,
    runtime_of,
)

KW = inspect.Parameter.KEYWORD_ONLY
MSG, TGT, SND, OUT, CRED = "Message", "Targets", "Sending", "Output", "Credentials"


class SharedOption(NamedTuple):
    """An option of every sending command. ``name`` is the parameter name and, unless
    ``dest`` says otherwise, the SendOptions field it fills (``dest=""``: not a SendOptions
    field, e.g. the output mode)."""

    name: str
    type: Any
    decls: tuple[str, ...]
    help: str
    panel: str
    default: Any = None
    metavar: str | None = None
    min: float | None = None
    max: float | None = None
    show_default: bool = True
    dest: str | None = None
    negate: bool = False  # --no-history fills history=False

    @property
    def field(self) -> str:
        return self.name if self.dest is None else self.dest

    def value(self, given: Any) -> Any:
        if self.negate:
            return not given
        if self.type == list[str] | None:
            return list(given or [])
        return given


def _s(
    name: str, type_: Any, decl: str | tuple[str, ...], help_text: str, panel: str, **kw: Any
) -> SharedOption:
    decls = (decl,) if isinstance(decl, str) else decl
    return SharedOption(name, type_, decls, help_text, panel, **kw)


OPT_STR = str | None
TEXT = SharedOption(
    "text", OPT_STR, (), "Message text; '-' or a pipe reads stdin.", "", metavar="TEXT"
)


# The options of every sending command, in help order (after TEXT).
SHARED: tuple[SharedOption, ...] = (
    _s("to", list[str] | None, ("--to", "-t"), "KIND:VALUE or a phone number; repeatable.", TGT,
       metavar="TARGET"),
    _s("to_file", OPT_STR, "--to-file",
       "Targets, one per line or CSV with a 'to' column; '-' = stdin.", TGT, metavar="PATH"),
    _s("template", bool, "--template",
       "TEXT has {column} placeholders filled from each --to-file CSV row.", TGT, default=False),
    _s("skip_invalid", bool, "--skip-invalid",
       "Send the valid targets and report the invalid ones (default: send nothing).", TGT,
       default=False),
    _s("file", OPT_STR, "--file", "Read the message from a file.", MSG, metavar="PATH"),
    _s("sender", OPT_STR, ("--from", "-f"),
       "Sender: E.164 number, short code or alphanumeric (1-11).", MSG, metavar="SENDER"),
    _s("encoding", str, "--encoding", ENCODING_HELP, MSG, metavar="ENCODING",
       default="auto"),
    _s("hex", bool, "--hex", "TEXT is binary data in hex.", MSG, default=False),
    _s("base64", bool, "--base64", "TEXT is binary data in base64.", MSG, default=False),
    _s("smart", bool, "--smart", "Replace look-alike characters (’ “ ” – …) to stay in GSM-7.",
       MSG, default=False),
    _s("max_segments", int | None, "--max-segments", "Refuse messages longer than N segments.",
       MSG, metavar="N", min=1),
    _s("validity", OPT_STR, "--validity", "How long the network tries: 90s, 30m, 2h, 3d.", SND,
       metavar="DURATION"),
    _s("at", OPT_STR, "--at", "Schedule: ISO 8601 or +DURATION.", SND, metavar="WHEN"),
    _s("ref", OPT_STR, "--ref", "Your reference (stored locally; sent where the API has one).",
       SND, metavar="REF"),
    _s("idempotency_key", OPT_STR, "--idempotency-key", "Never send twice under this key.", SND,
       metavar="KEY"),
    _s("dedupe_window", OPT_STR, "--dedupe-window", "Do not send the same text to the same "
       "target again within this time (30m, 2h); the skipped send is recorded as deduped.",
       SND, metavar="DURATION"),
    _s("dedupe_key", OPT_STR, "--dedupe-key", "What counts as the same send for "
       "--dedupe-window: {to}, {text_hash}, {provider}, {profile}, {column} of --to-file "
       "(default {provider}:{to}:{text_hash}).", SND, metavar="TEMPLATE"),
    _s("force", bool, "--force", "Send even if an earlier attempt's outcome is unknown, or "
       "the dedupe window holds it.", SND, default=False),
    _s("wait", OPT_STR, "--wait", "After acceptance, wait for delivery (--wait or --wait=10m).",
       SND, metavar="DURATION", show_default=False),
    _s("await_reply", OPT_STR, "--await-reply", "After acceptance, wait for each target's "
       "first reply (--await-reply or --await-reply=5m; default 2m).", SND, metavar="DURATION",
       show_default=False),
    _s("dry_run", bool, "--dry-run", "Print the HTTP request(s), secrets redacted; send nothing.",
       SND, default=False),
    _s("timeout", float | None, "--timeout", TIMEOUT_HELP[:-1] + "; default 30.", SND,
       metavar="SECONDS", min=0.1),
    _s("sandbox", bool, "--sandbox",
       "Send to a local emulator of the API started for this command.", SND, default=False),
    _s("base_url", OPT_STR, "--base-url", "API base URL (overrides the profile).", SND,
       metavar="URL"),
    _s("no_history", bool, "--no-history", "Do not record this send in the history.", SND,
       default=False, dest="history", negate=True),
    _s("yes", bool, "--yes", "Confirm sending to more than 100 targets.", SND, default=False),
    _s("concurrency", int, "--concurrency", "Requests in flight at once for many targets.", SND,
       metavar="N", default=4, min=1, max=64),
    _s("rate", float | None, "--rate",
       "Messages per second (default: the provider's documented limit; 0 = no limit).", SND,
       metavar="PER_SECOND", min=0),
    _s("resume", OPT_STR, "--resume",
       "Re-run batch BATCH: skip targets it already sent (unknown ones need --force).", SND,
       metavar="BATCH"),
    _s("profile", OPT_STR, ("--profile", "-p"),
       "Profile from the config file (env SMSCLI_PROFILE).", CRED, metavar="NAME"),
    _s("config", OPT_STR, "--config", "Config file path.", CRED, metavar="PATH"),
    _s("json", bool, "--json", "One JSON document on stdout.", OUT, default=False, dest=""),
    _s("jsonl", bool, "--jsonl", "One JSON RESULT per line as each completes.", OUT,
       default=False, dest=""),
    _s("quiet", bool, ("--quiet", "-q"), "Only the message id(s).", OUT, default=False, dest=""),
    _s("verbose", bool, ("--verbose", "-v"), "HTTP trace on stderr (secrets redacted).", OUT,
       default=False),
)  # fmt: skip

PROVIDER = _s("provider", OPT_STR, "--provider",
              "Provider slug instead of -p: flags/env, plus the default profile if it is "
              "for this provider.", CRED,
              metavar="SLUG", show_default=True)  # fmt: skip


def _parameter(option: SharedOption) -> inspect.Parameter:
    if not option.decls:
        argument = typer.Argument(
            option.default, metavar=option.metavar, help=option.help, show_default=False
        )
        return inspect.Parameter(
            option.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=argument,
            annotation=option.type,
        )
    kw: dict[str, Any] = {"help": option.help, "rich_help_panel": option.panel}
    if option.metavar is not None:
        kw["metavar"] = option.metavar
    if option.min is not None:
        kw["min"] = option.min
    if option.max is not None:
        kw["max"] = option.max
    if not option.show_default:
        kw["show_default"] = False
    default = typer.Option(option.default, *option.decls, **kw)
    return inspect.Parameter(option.name, KW, default=default, annotation=option.type)


def _provider_parameter(option: ProviderOption) -> inspect.Parameter:
    kinds: dict[str, Any] = {"text": str | None, "flag": bool | None, "multiple": list[str] | None}
    kw: dict[str, Any] = {"help": option.help}
    if option.metavar is not None:
        kw["metavar"] = option.metavar
    if option.panel is not None:
        kw["rich_help_panel"] = option.panel
    if option.kind == "flag":
        kw["show_default"] = False
    default = typer.Option(None, option.flags, **kw)
    return inspect.Parameter(option.name, KW, default=default, annotation=kinds[option.kind])


def credential_parameters(fields: list[CredentialField]) -> list[inspect.Parameter]:
    """The credential flags of ``fields`` (tests/test_help.py: no flag is declared twice)."""
    params = []
    for f in fields:
        help_text = (
            f.help.removesuffix(".") + " (secret: prefer the env var)." if f.secret else f.help
        )
        default = typer.Option(
            None,
            f.flag,
            help=help_text,
            rich_help_panel=CRED,
            show_default=False,
            metavar="SECRET" if f.secret else "VALUE",
        )
        name = "cred_" + f.name
        params.append(inspect.Parameter(name, KW, default=default, annotation=str | None))
    return params


def fields_of(slug: str | None, *, listen: bool = False) -> list[CredentialField]:
    """The credential fields a command takes as flags: one provider's, or every provider's.
    The callback fields (``listen_only``) only with ``listen``: a send never uses them, so
    its help does not offer them."""
    infos = [REGISTRY[slug]] if slug else list(REGISTRY.values())
    seen: dict[str, CredentialField] = {}
    for info in infos:
        for f in info.fields:
            if listen or not f.listen_only:
                seen.setdefault(f.name, f)
    return list(seen.values())


SEND_HELP = (
    "Send an SMS with the provider of a profile.\n\n"
    "Example: smscli send -p fleet -t iccid:8988303000006734768 'reboot'\n\n"
    "Try it with no account: smscli send --sandbox --provider emnify -t endpoint:1001 Hello"
)


def make_send_command(slug: str | None) -> Callable[..., None]:
    """Build `smscli send` (slug None) or `smscli <slug>` from the options as data."""
    info: ProviderInfo | None = REGISTRY[slug] if slug else None
    own = info.options if info else ()
    fields = fields_of(slug)

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        from smscli.pipeline import SendOptions, run_send

        runtime = runtime_of(ctx)

        def body(out: Any) -> int:
            values = {o.field: o.value(kwargs[o.name]) for o in (TEXT, *SHARED) if o.field}
            opts = SendOptions(
                provider=slug or kwargs["provider"],
                credentials={f.name: kwargs.get("cred_" + f.name) for f in fields},
                extra=info.extra_from(kwargs) if info else {},
                **values,
            )
            return run_send(opts, runtime, out)

        execute(lambda: output_mode(kwargs["json"], kwargs["jsonl"], kwargs["quiet"]), body)

    parameters = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *(_parameter(o) for o in (TEXT, *SHARED)),
        *credential_parameters(fields),
        *(_provider_parameter(o) for o in own),
        *([] if info else [_parameter(PROVIDER)]),
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__name__ = slug or "send"
    command.__doc__ = info.help if info else SEND_HELP
    return command

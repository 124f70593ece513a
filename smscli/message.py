"""The message body: where it is read from, and its local check (no I/O beyond stdin/files).

Kept apart from the pipeline package so that `smscli check` loads neither the config reader nor the
send flow (SPEC §9).
"""

from __future__ import annotations

import sys

from smscli.errors import InputError, UsageError
from smscli.models import MessageCheck


def read_body(text: str | None, file: str | None) -> str:
    """TEXT, ``-`` for stdin, ``--file PATH``, or stdin when TEXT is absent and piped."""
    if text is not None and file is not None:
        raise UsageError("give the message as TEXT or --file, not both")
    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                body = fh.read()
        except OSError as exc:
            raise InputError(
                f"cannot read --file {file}: {exc.strerror}", code="bad_file"
            ) from None
        except UnicodeDecodeError:
            raise InputError(
                f"--file {file} is not UTF-8 text (use --hex/--base64 for binary data)",
                code="bad_file",
            ) from None
        return _strip_final_newline(body)
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return _strip_final_newline(sys.stdin.read())
    if text is None:
        raise UsageError("no message text: give TEXT, --file PATH, or pipe it on stdin")
    return text


def _strip_final_newline(body: str) -> str:
    # `echo hi | smscli send` must send "hi", not "hi\n" (which would cost a character).
    return body[:-1] if body.endswith("\n") else body


def build_check(
    body: str, *, encoding: str, hex_input: bool, base64_input: bool, smart: bool
) -> MessageCheck:
    from smscli import encoding as enc

    if hex_input and base64_input:
        raise UsageError("--hex and --base64 exclude each other")
    if hex_input or base64_input:
        if encoding not in ("auto", "binary"):
            flag = "--hex" if hex_input else "--base64"
            raise UsageError(f"{flag} sends binary data; drop --encoding {encoding}")
        data = enc.parse_hex(body) if hex_input else enc.parse_base64(body)
        return enc.analyze_binary(data)
    return enc.analyze(body, encoding=encoding, smart=smart)


def smart_skipped(check: MessageCheck) -> str:
    """Why --smart left the text as it was (``check.skipped``), in one line."""
    chars = list(dict.fromkeys(f"{r.char} ({r.codepoint})" for r in check.skipped))
    shown = ", ".join(chars[:5]) + (f" and {len(chars) - 5} more" if len(chars) > 5 else "")
    it = "it" if len(chars) == 1 else "them"
    return (
        f"--smart kept {shown}: replacing {it} would make {check.replaced_segments} "
        f"segments instead of {check.segments}"
    )

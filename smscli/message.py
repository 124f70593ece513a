"""The message body: where it is read from, and its local check (no I/O beyond stdin/files).

Kept apart from the pipeline package so that `smscli check` loads neither the config reader nor the
send flow (SPEC §9).
"""

from __future__ import annotations

import sys

from smscli.errors import InputError, UsageError
from smscli.models import MessageCheck

# The longest message any provider takes is 255 parts (MAX_PARTS): about 39,000 GSM-7
# characters, 51,000 bytes of UTF-8 text in UCS-2, or 34,000 octets of binary data (102,000
# characters written as spaced hex). Stdin or a --file past 1 MiB is refused without reading
# further, so `--file /dev/zero` or an endless pipe ends at once with exit 4.
MAX_INPUT_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


def read_body(text: str | None, file: str | None) -> str:
    """TEXT, ``-`` for stdin, ``--file PATH``, or stdin when TEXT is absent and piped.

    Stdin and --file are read as bytes, at most ``MAX_INPUT_BYTES``: a UTF-8 BOM at the start
    and one line ending at the end (LF or CR LF) are not part of the message, and bytes that
    are not UTF-8 are refused (exit 4) with their offset.
    """
    if text is not None and file is not None:
        raise UsageError("give the message as TEXT or --file, not both")
    if file is not None:
        where = f"--file {shown(file)}"
        try:
            with open(file, "rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise InputError(f"cannot read {where}: {exc.strerror}", code="bad_file") from None
        return _decode(data, where)
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return _read_stdin()
    if text is None:
        raise UsageError("no message text: give TEXT, --file PATH, or pipe it on stdin")
    require_utf8(text, "the message")
    return text


def _read_stdin() -> str:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text stream without bytes (an embedding program's)
        body = sys.stdin.read(MAX_INPUT_BYTES + 1)
        if len(body) > MAX_INPUT_BYTES:
            raise _too_long("stdin")
        require_utf8(body, "the message on stdin")
        return _strip_framing(body)
    return _decode(buffer.read(MAX_INPUT_BYTES + 1), "stdin")


def _too_long(where: str) -> InputError:
    return InputError(
        f"the message on {where} is longer than 1 MiB; no provider takes a message that long",
        code="message_too_long",
    )


def _decode(data: bytes, where: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise _too_long(where)
    bom = len(_BOM) if data.startswith(_BOM) else 0
    try:
        body = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the message on {where} is not valid UTF-8 (byte offset {bom + exc.start})",
            hint="save it as UTF-8, or give binary data with --hex/--base64",
            code="invalid_utf8",
        ) from None
    return _strip_framing(body)


def _strip_framing(body: str) -> str:
    # `echo hi | smscli send` must send "hi", not "hi\n" (which would cost a character); a
    # file saved on Windows ends in CR LF, and may start with a BOM (which Notepad adds).
    body = body.removeprefix("\ufeff")
    for ending in ("\r\n", "\n"):
        if body.endswith(ending):
            return body[: -len(ending)]
    return body


def utf8_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as UTF-8 text; None when it can.

    Python hands a command-line argument (or a C-locale stdin) that is not UTF-8 over with
    each bad byte as a lone surrogate (U+DC80-U+DCFF, "surrogateescape"); the offset is that
    byte's in the argument as given.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        offset = len(value[: exc.start].encode("utf-8"))
        bad = value[exc.start]
        if "\udc80" <= bad <= "\udcff":
            return f"is not valid UTF-8 (byte offset {offset})"
        return f"is not valid Unicode (a lone surrogate U+{ord(bad):04X} at byte offset {offset})"
    return None


def require_utf8(value: str, what: str) -> None:
    """Refuse (exit 4) a text value that is not valid UTF-8; ``what`` names it."""
    problem = utf8_problem(value)
    if problem is not None:
        raise InputError(f"{what} {problem}", code="invalid_utf8")


def shown(path: str) -> str:
    """A file name as it can be printed: a byte that is not UTF-8 as ``\\xff``."""
    return "".join(
        (f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF else f"\\u{ord(ch):04x}")
        if "\ud800" <= ch <= "\udfff"
        else ch
        for ch in path
    )


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

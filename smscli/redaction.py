"""Keeping secrets off the screen: the one redactor every output path goes through.

Everything a provider sends back (an error message, a reply body, a header) passes through
the run's ``Redactor`` before it is printed, traced, stored in the history or handed to a
Python API caller. Two layers, so that a secret is hidden even where nobody thought to look:

1. where it is carried (structure): credential headers (``Authorization``, ``VZ-M2M-Token``,
   ``X-…-Token``, ``Cookie``), JSON keys and XML elements whose names say "password",
   "token", "secret", "sessionId", … (``is_secret_name``), and ``name=value`` form fields.
   These are masked whatever their value, also where a provider quotes them inside its own
   text (an echoed request body), and also when smscli's own clipping cut the value short.
2. where it appears elsewhere (value): every secret of the run (profile secrets, tokens
   obtained at run time, the HTTP Basic credentials smscli encodes) in its raw, JSON-escaped,
   XML-escaped and URL-encoded forms, as a whole token (not glued to a letter or digit), and
   its start where smscli's clipping ("…") cut it off. Only values that cannot be an ordinary
   word are looked for in free text (``distinctive``): a password ``refused`` is masked in
   ``{"password": "refused"}`` but not in "Telit refused the login".
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from smscli.errors import SmscliError
    from smscli.models import SendResult, StatusReport

E = TypeVar("E", bound="SmscliError")

MASK: Final = "***"

# Free text: a secret value shorter than this is masked only where it is carried (masking
# every "abc" or "2024" in a text would make output unreadable while protecting nothing).
FREE_TEXT_MIN: Final = 6
# Free text: a secret made of letters only may be an ordinary word ("refused", "Password");
# it is masked there only from this length (a passphrase), else only where it is carried.
WORD_MIN: Final = 16
# text() remembers its answers for texts up to this long, this many at a time.
_MEMO_TEXT_MAX: Final = 256
_MEMO_ENTRIES: Final = 4096
# A clipped value ("…") is masked when at least this much of a secret's start is left.
_CLIPPED_MIN: Final = 3
CLIP: Final = "…"
# Where a secret starting with a letter/digit may start: not inside a longer word, but right
# after a JSON escape (a quoted body's "\nsecret") it may.
_LEFT_EDGE: Final = r"(?:(?<!\w)|(?<=\\[nrtbf]))"

# Words of a name (snake_case, kebab-case, camelCase, ALLCAPS) that make its value secret.
_SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "token",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "jwt",
        "apikey",
        "sessionid",
    }
)
_SECRET_PAIRS: Final = frozenset(
    {("session", "id"), ("api", "key"), ("access", "key"), ("private", "key")}
)
# Words that make a secret-sounding name the name of something else: ``error_token`` (emnify's
# error slug), ``token_type``, ``auth_type``, ``token_expires_at``, ``tokenUrl``.
_NOT_SECRET_WORDS: Final = frozenset(
    {"error", "type", "expires", "expiry", "expiration", "ttl", "url", "uri", "endpoint"}
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Headers that carry a credential (whatever their value), as they appear in a text:
# "Authorization: Basic …", "X-Auth-Token: …". A bare "Token: expired" in a provider's
# prose is not one of them.
_HEADER_NAMES: Final = frozenset(
    {"authorization", "proxy-authorization", "vz-m2m-token", "cookie", "set-cookie"}
)
_HEADER_IN_TEXT = re.compile(
    r"(?<![\w-])(?P<name>(?:proxy-)?authorization|vz-m2m-token|(?:set-)?cookie"
    r"|[a-z][\w]*-[\w-]+)(?P<sep>[ \t]*:[ \t]*)"
    r"(?:(?P<scheme>basic|bearer|token|digest|negotiate)[ \t]+)?"
    r"(?P<value>[^\s,;\"'}\]]+)",
    re.IGNORECASE,
)
_AUTH_SCHEMES: Final = frozenset({"basic", "bearer", "token", "digest", "negotiate"})
# "name": "value" in a text: JSON, Python's repr (single quotes), JSON quoted inside JSON
# (\"name\": \"value\"); also a value smscli's clipping cut off ("name": "val…).
_PAIR_IN_TEXT = re.compile(
    r"(?P<key>(?P<q>\\?[\"'])(?P<name>[A-Za-z_][\w.-]{0,63})(?P=q)\s*:\s*)"
    r"(?:\"(?P<v1>(?:[^\"\\…]|\\[^…])*)\"|'(?P<v2>(?:[^'\\…]|\\[^…])*)'"
    r"|\\\"(?P<v3>(?:[^\"\\…]|\\[^\"…])*)\\\"|(?P<open>\\?[\"'])(?P<cut>[^\"'…]*)…)"
)
# name=value in a query string or form body (``client_secret=…&``), or a flag (--password=…).
_FORM_IN_TEXT = re.compile(r"(?<![\w.])(?P<name>[A-Za-z_][\w.-]{0,63})=(?P<value>[^&\s\"'<>;,]+)")
_XML_ELEMENT = re.compile(
    r"<(?P<tag>[\w:.-]+)(?P<attrs>[^<>]*)>(?P<value>[^<…]*)(?:</(?P=tag)>|(?P<cut>…))"
)
_XML_ESCAPED_ELEMENT = re.compile(
    r"&lt;(?P<tag>[\w:.-]+)(?P<attrs>(?:(?!&gt;)[^<>])*)&gt;(?P<value>(?:(?!&lt;)[^<…])*)"
    r"(?:&lt;/(?P=tag)&gt;|(?P<cut>…))"
)


def _xml_escape(value: str, *, quotes: bool = False) -> str:
    # Not xml.sax.saxutils: it imports urllib.request, http.client and ssl (~30 ms of start-up).
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quotes:
        value = value.replace('"', "&quot;").replace("'", "&apos;")
    return value


@functools.lru_cache(maxsize=1024)  # a run sees the same few dozen names again and again
def is_secret_name(name: str) -> bool:
    """Does a header, JSON key, XML element or form field of this name carry a secret?
    ``password``, ``application_token``, ``auth_token``, ``sessionId``, ``X-Auth-Token``,
    ``Authorization``: yes. ``error_token``, ``token_type``, ``expires_in``: no."""
    words = [w.lower() for w in _WORD.findall(name.rsplit(":", 1)[-1])]
    if _NOT_SECRET_WORDS.intersection(words):
        return False
    return bool(_SECRET_WORDS.intersection(words)) or any(
        pair in _SECRET_PAIRS for pair in itertools.pairwise(words)
    )


def distinctive(value: str) -> bool:
    """Can this secret be looked for in free text without masking ordinary words? At least
    FREE_TEXT_MIN characters, and not letters only unless at least WORD_MIN long."""
    if len(value) < FREE_TEXT_MIN:
        return False
    return len(value) >= WORD_MIN or not value.isalpha()


def encoded_forms(value: str) -> set[str]:
    """The value as it can appear in a request smscli sent or a reply quoting one: raw,
    JSON-escaped (with and without \\u escapes, with \\/, and escaped twice: JSON quoted in
    JSON), XML-escaped (element text and attribute) and URL-encoded (%20 and +, either hex
    case)."""
    from urllib.parse import quote, quote_plus

    forms = {value, _xml_escape(value), _xml_escape(value, quotes=True)}
    for ascii_only in (True, False):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(escaped)[1:-1]}
    for encoded in (quote(value, safe=""), quote_plus(value, safe="")):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded)}
    return forms


def _masked_header_value(value: str) -> str:
    scheme = value.split(" ", 1)[0] if " " in value else ""
    return f"{scheme} {MASK}" if scheme else MASK


class Redactor:
    """Collects the secrets of one run and scrubs them from any text or structure.
    Thread-safe: send threads add the tokens they obtain while others print."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: set[str] = set()  # every value add() was given (short ones too)
        self._headers: set[str] = set()  # credential header values add_credentials() read
        self._forms: set[str] = set()  # encoded forms of the distinctive ones
        self._pattern: re.Pattern[str] | None = None
        self._sorted: tuple[str, ...] = ()  # _forms, longest first (as _pattern was built)
        self._lock = threading.Lock()
        # text() of short texts, as scrubbed with the secrets known so far (emptied when a
        # secret is added). A bulk run scrubs the same few values (a status, an encoding,
        # the date of this second) thousands of times: ~5% of its time without this.
        self._scrubbed: dict[str, str] = {}
        for value in secrets:
            self.add(value)

    # -- what is secret ------------------------------------------------------------------------
    def add(self, value: str | None, *, generated: bool = False) -> None:
        """A secret of this run. ``generated``: made by a machine (a token from a login
        reply, the Basic credentials smscli encodes), so never an ordinary word: looked for
        in free text from FREE_TEXT_MIN characters even if it has letters only."""
        if not value or value in self._known:
            return
        with self._lock:
            self._known.add(value)
            if len(value) < FREE_TEXT_MIN or not (generated or distinctive(value)):
                return  # masked only where it is carried
            self._forms |= encoded_forms(value)
            self._pattern = None
            self._scrubbed = {}

    def add_credentials(self, headers: Mapping[str, str]) -> None:
        """The credential headers of a request smscli sends (``Basic <base64>``, ``Bearer
        <token>``, a bare token): each credential, and for Basic the decoded
        ``user:secret``, is a secret of the run from then on (a reply may echo either)."""
        for name, value in headers.items():
            if value in self._headers or not (
                is_secret_name(name) or name.lower() in _HEADER_NAMES
            ):
                continue
            self._headers.add(value)
            credential = value.split(" ", 1)[-1].strip()
            self.add(credential, generated=True)
            if value[:6].lower() == "basic ":
                try:
                    decoded = base64.b64decode(credential, validate=True).decode("utf-8")
                except (binascii.Error, ValueError):
                    continue
                self.add(decoded, generated=True)

    def _compiled(self) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
        pattern, forms = self._pattern, self._sorted
        if pattern is None and self._forms:
            with self._lock:
                # Longest first, so that a secret containing another is masked whole; a form
                # that starts or ends with a letter/digit must not be part of a longer word.
                forms = tuple(sorted(self._forms, key=len, reverse=True))
                pattern = re.compile(
                    "|".join(
                        (_LEFT_EDGE if _wordish(f[0]) else "")
                        + re.escape(f)
                        + ("(?!\\w)" if _wordish(f[-1]) else "")
                        for f in forms
                    )
                )
                self._pattern, self._sorted = pattern, forms
        return pattern, forms

    # -- scrubbing -----------------------------------------------------------------------------
    def text(self, text: str) -> str:
        """Scrub a free text (an error message, a response body, a log line)."""
        scrubbed = self._scrubbed  # this generation's (add() replaces it, never edits it)
        known = scrubbed.get(text)
        if known is not None:
            return known
        result = self._scrub(text)
        if len(text) <= _MEMO_TEXT_MAX:
            if len(scrubbed) >= _MEMO_ENTRIES:
                scrubbed.clear()
            scrubbed[text] = result
        return result

    def _scrub(self, text: str) -> str:
        if "<" in text:
            text = _XML_ELEMENT.sub(_xml_element, text)
        if "&lt;" in text:
            text = _XML_ESCAPED_ELEMENT.sub(_xml_escaped_element, text)
        if ":" in text:
            if '"' in text or "'" in text:
                text = _PAIR_IN_TEXT.sub(_pair, text)
            text = _HEADER_IN_TEXT.sub(_header, text)
        if "=" in text:
            text = _FORM_IN_TEXT.sub(_form, text)
        pattern, forms = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
            if CLIP in text:
                text = _clipped(text, forms)
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in headers.items():
            if is_secret_name(name) or name.lower() in _HEADER_NAMES:
                out[name] = _masked_header_value(value)
            else:
                out[name] = self.text(value)
        return out

    def data(self, value: Any) -> Any:
        """Scrub a JSON-like structure: secret-named keys, then known values. A copy, made
        without recursion: a reply nested thousands of levels deep is scrubbed too.

        A secret-named object ({"auth": {...}}) is searched, not hidden whole: its
        password/sessionId keys are masked and the rest stays readable."""
        root: list[Any] = [None]
        todo: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (value, its copy's parent, key)
        while todo:
            item, parent, key = todo.pop()
            if isinstance(item, dict):
                copy: dict[Any, Any] = {}
                for name, field in item.items():
                    if (
                        is_secret_name(str(name))
                        and field not in (None, "")
                        and not isinstance(field, dict | list | bool)
                    ):
                        # already masked: keep "Basic ***" readable
                        masked = isinstance(field, str) and field.endswith(MASK)
                        copy[name] = field if masked else MASK
                    else:
                        copy[name] = None
                        todo.append((field, copy, name))
                parent[key] = copy
            elif isinstance(item, list):
                items: list[Any] = [None] * len(item)
                todo.extend((field, items, i) for i, field in enumerate(item))
                parent[key] = items
            else:
                parent[key] = self.text(item) if isinstance(item, str) else item
        return root[0]

    def body(self, body: str | None) -> str | None:
        """Scrub a request/response body of any format (JSON, XML, form, text)."""
        if body is None:
            return None
        stripped = body.strip()
        if stripped[:1] in ("{", "["):
            try:
                return json.dumps(self.data(json.loads(stripped)), ensure_ascii=False)
            except (ValueError, RecursionError):
                pass  # not JSON, or too deep for the json module: scrubbed as text
        return self.text(body)

    def error(self, err: E) -> E:
        """Scrub an error in place: its message, hint and provider code may quote a
        provider's reply. Returns it, to be raised."""
        err.message = self.text(err.message)
        if err.hint:
            err.hint = self.text(err.hint)
        if err.provider_code:
            err.provider_code = self.text(err.provider_code)
        err.args = (err.message,)
        return err

    def result(self, result: SendResult) -> SendResult:
        """Scrub a RESULT in place: its error and details come from the provider."""
        if result.error:
            result.error = self.data(result.error)
        if result.details:
            result.details = self.data(result.details)
        return result

    def report(self, report: StatusReport) -> StatusReport:
        """A scrubbed copy of what a status lookup found."""
        return report._replace(
            provider_status=self.text(report.provider_status) if report.provider_status else None,
            error=self.data(report.error) if report.error else report.error,
            details=self.data(dict(report.details)) if report.details else report.details,
        )


def _clipped(text: str, forms: tuple[str, ...]) -> str:
    """The start of a secret that smscli's own clipping cut off ("…") is masked too."""
    position = text.find(CLIP)
    while position != -1:
        longest = 0
        for form in forms:
            for k in range(min(len(form) - 1, position), longest, -1):
                if k < _CLIPPED_MIN:
                    break
                start = position - k
                if text[start:position] == form[:k] and not (
                    _wordish(form[0]) and start > 0 and _wordish(text[start - 1])
                ):
                    longest = k
                    break
        if longest:
            text = text[: position - longest] + MASK + text[position:]
            position += len(MASK) - longest
        position = text.find(CLIP, position + 1)
    return text


def _wordish(char: str) -> bool:
    return char.isalnum() or char == "_"


# -- structural substitutions (module level: they need no secret values) ----------------------
def _xml_element(m: re.Match[str]) -> str:
    if not m["value"] or not is_secret_name(m["tag"]):
        return m[0]
    end = CLIP if m["cut"] else f"</{m['tag']}>"
    return f"<{m['tag']}{m['attrs']}>{MASK}{end}"


def _xml_escaped_element(m: re.Match[str]) -> str:
    if not m["value"] or not is_secret_name(m["tag"]):
        return m[0]
    end = CLIP if m["cut"] else f"&lt;/{m['tag']}&gt;"
    return f"&lt;{m['tag']}{m['attrs']}&gt;{MASK}{end}"


def _pair(m: re.Match[str]) -> str:
    if not is_secret_name(m["name"]):
        return m[0]
    if m["cut"] is not None:
        return f"{m['key']}{m['open']}{MASK}{CLIP}" if m["cut"] else m[0]
    for quote, group in (('"', "v1"), ("'", "v2"), ('\\"', "v3")):
        value = m[group]
        if value is not None:
            if not value or value.endswith(MASK):
                return m[0]  # empty (a useful hint, not a secret), or masked already
            head = value.split(" ", 1)[0]
            shown = f"{head} {MASK}" if " " in value and head.lower() in _AUTH_SCHEMES else MASK
            return f"{m['key']}{quote}{shown}{quote}"
    return m[0]


def _header(m: re.Match[str]) -> str:
    name = m["name"]
    if name.lower() not in _HEADER_NAMES and not (
        "-" in name and is_secret_name(name)  # X-Auth-Token, Api-Key: not a bare "Token:"
    ):
        return m[0]
    if m["value"] == MASK:
        return m[0]
    scheme = f"{m['scheme']} " if m["scheme"] else ""
    return f"{name}{m['sep']}{scheme}{MASK}"


def _form(m: re.Match[str]) -> str:
    if m["value"] == MASK or not is_secret_name(m["name"]):
        return m[0]
    return f"{m['name']}={MASK}"

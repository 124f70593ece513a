"""Keeping secrets off the screen: the one redactor every output path goes through.

Two layers, so that a secret is hidden even where nobody thought to look:
1. structure: Authorization-like headers, JSON keys and XML elements whose names say
   "password", "token", "secret", … are replaced by ``***``;
2. value: every secret value known to this run (profile secrets, and tokens obtained at run
   time) is replaced wherever it appears, in its raw, JSON-escaped and XML-escaped forms.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

MASK: Final = "***"

# Names (headers, JSON keys, XML elements) whose values are always secret.
_SECRET_NAME = re.compile(
    r"(pass(word)?|secret|token|auth|session[_-]?id|api[_-]?key|credential|cookie|jwt)",
    re.IGNORECASE,
)
# Names that merely contain one of the words above but are not secret.
_NOT_SECRET: Final = frozenset(
    {"token_type", "expires_in", "authentication", "auth_type", "refresh_expires_in"}
)
_XML_SECRET = re.compile(
    r"<(?P<tag>[\w:.-]*(?:password|secret|token)[\w:.-]*)(?P<attrs>[^>]*)>(?P<value>[^<]*)</(?P=tag)>",
    re.IGNORECASE,
)
# Values shorter than this are only hidden structurally: masking every "ab" in a text would
# make output unreadable while protecting nothing.
_MIN_VALUE_LEN: Final = 4


def _xml_escape(value: str, *, quotes: bool = False) -> str:
    # Not xml.sax.saxutils: it imports urllib.request, http.client and ssl (~30 ms of start-up).
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quotes:
        value = value.replace('"', "&quot;").replace("'", "&apos;")
    return value


@functools.lru_cache(maxsize=1024)  # a run sees the same few dozen names again and again
def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered not in _NOT_SECRET and bool(_SECRET_NAME.search(lowered))


class Redactor:
    """Collects the secrets of one run and scrubs them from any text or structure."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._longest_first: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str | None) -> None:
        if not value or len(value) < _MIN_VALUE_LEN:
            return
        self._values.add(value)
        self._values.add(json.dumps(value)[1:-1])
        self._values.add(_xml_escape(value))
        self._values.add(_xml_escape(value, quotes=True))
        # Longest first, so that a secret containing another is masked whole.
        self._longest_first = sorted(self._values, key=len, reverse=True)

    def text(self, text: str) -> str:
        """Scrub a free text (an error message, a response body, a log line)."""
        if "<" in text:
            text = _XML_SECRET.sub(lambda m: f"<{m['tag']}{m['attrs']}>{MASK}</{m['tag']}>", text)
        for value in self._longest_first:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in headers.items():
            if is_secret_name(name) or name.lower() in ("vz-m2m-token", "proxy-authorization"):
                scheme = value.split(" ", 1)[0] if " " in value else ""
                out[name] = f"{scheme} {MASK}" if scheme else MASK
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
                        and not isinstance(field, dict | list)
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

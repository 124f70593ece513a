"""smscli: send SMS to IoT SIMs and phones from a terminal or a script.

The Python API (``send``, ``status``, ``Client``, ``SendReport``) lives in ``smscli.api`` and
is imported on first use (PEP 562), so ``import smscli`` and the CLI's start-up stay cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Client", "SendReport", "__version__", "send", "status"]

# Not `from typing import TYPE_CHECKING`: importing typing costs `smscli --version` ~3 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from smscli.api import Client, SendReport, send, status

_API = frozenset({"Client", "SendReport", "send", "status"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from smscli import api

        value = getattr(api, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'smscli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})

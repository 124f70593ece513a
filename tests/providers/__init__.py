"""Provider tests: builders and parsers, and conversations with the sandbox emulators."""

from __future__ import annotations

import pytest

from smscli.errors import (
    ExitCode,
    LoginRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
)

# What a send to each sandbox magic suffix (smscli.sandbox.base.MAGIC) must end in, for a
# provider with one request per send and no login of its own: (suffix, error class, exit
# code, requests made). 429 is retried (never processed); nothing that may have been is.
MAGIC_SEND_FAILURES = [
    pytest.param("0400", ProviderRefused, ExitCode.REFUSED, 1, id="0400-rejected"),
    pytest.param("0401", LoginRefused, ExitCode.REFUSED, 1, id="0401-auth"),
    pytest.param("0404", ProviderRefused, ExitCode.REFUSED, 1, id="0404-unknown"),
    pytest.param("0408", OutcomeUnknown, ExitCode.UNKNOWN, 1, id="0408-slow"),
    pytest.param("0429", ProviderUnavailable, ExitCode.UNAVAILABLE, 3, id="0429-rate"),
    pytest.param("0444", OutcomeUnknown, ExitCode.UNKNOWN, 1, id="0444-drop"),
    pytest.param("0500", OutcomeUnknown, ExitCode.UNKNOWN, 1, id="0500-server"),
]

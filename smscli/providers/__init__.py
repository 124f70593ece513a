"""Provider implementations: one API module per provider. Their declarations (metadata,
options, how to load the class) live in ``smscli.catalog``."""

from __future__ import annotations

from smscli.catalog import ProviderInfo
from smscli.providers.base import Provider


def load(info: ProviderInfo) -> type[Provider]:
    """The provider's API class (its module is imported only when a command talks to it)."""
    return info.provider()

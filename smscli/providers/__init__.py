"""Provider implementations. Their static metadata lives in ``smscli.catalog``."""

from __future__ import annotations

import importlib

from smscli.catalog import ProviderInfo
from smscli.providers.base import Provider


def load(info: ProviderInfo) -> type[Provider]:
    """Import the provider's module (only when a command talks to its API)."""
    module_name, _, class_name = info.module.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    return cls

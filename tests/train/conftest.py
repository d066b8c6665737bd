"""Fixtures of the trainer tests (the stand-ins live in ``_train_standins.py``)."""

from __future__ import annotations

import pytest

import disentkit.methods as methods
import disentkit.train.config as config
from _train_standins import TINY, registry_with_tiny


@pytest.fixture
def tiny_registry(monkeypatch):
    """Make ``tiny_vae`` a method name for the trainer, beside the real methods."""
    monkeypatch.setattr(config, "_method_registry", lambda: registry_with_tiny(methods))
    return TINY

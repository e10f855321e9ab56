"""Fixtures shared by the tests."""

from __future__ import annotations

import importlib

import pytest
from plugin_dists import EXAMPLES, forget_test_modules, install


@pytest.fixture
def site(tmp_path, monkeypatch):
    """The example distributions of tests/plugins/, installed in a directory on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    for example in EXAMPLES:
        install(example, site)
    forget_test_modules()
    monkeypatch.syspath_prepend(str(site))
    yield site
    forget_test_modules()


@pytest.fixture
def example(site):
    return importlib.import_module("mountkit_example")


@pytest.fixture(autouse=True)
def _kernels_follow_the_environment():
    """mountkit.kernels reads MOUNTKIT_KERNELS once per frame; a test that changed it (monkeypatch) leaves the
    last reading behind, so each test starts from the environment as it is."""
    from mountkit import kernels

    kernels.available()
    yield

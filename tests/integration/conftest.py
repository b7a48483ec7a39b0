# SPDX-License-Identifier: MIT
import os

import pytest

from pgrepl_testlib import BUILDDIR, Cluster, PG_BIN


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests run as root (they switch to postgres)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def cluster():
    assert (BUILDDIR / "services").is_dir(), f"no build in {BUILDDIR}: run meson/ninja first"
    assert (PG_BIN / "postgres").exists(), "PostgreSQL 15 server is not installed"
    c = Cluster()
    yield c
    c.close()

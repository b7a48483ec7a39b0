# SPDX-License-Identifier: MIT
import os

import pytest

from pgrepl_testlib import BUILDDIR, Cluster, PG_BIN


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests run as root (they switch to postgres)")
        for item in items:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """PGREPL_NO_SKIP=1 (tests/run-all sets it) turns a skip into a failure:
    where every test can run, a skip hides a suite that did not."""
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("PGREPL_NO_SKIP") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, a failure with PGREPL_NO_SKIP=1: {reason}"


@pytest.fixture
def cluster():
    assert (BUILDDIR / "services").is_dir(), f"no build in {BUILDDIR}: run meson/ninja first"
    assert (PG_BIN / "postgres").exists(), "PostgreSQL 15 server is not installed"
    c = Cluster()
    yield c
    c.close()

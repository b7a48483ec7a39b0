# SPDX-License-Identifier: MIT
import os
import shutil
import tempfile

import pytest

import pgrepl_testlib
from pgrepl_testlib import BUILDDIR, Cluster, PG_BIN, make_dir, sanitizer_reports


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


@pytest.fixture(autouse=True)
def sanitizer_check():
    """Every binary a test runs writes its sanitizer reports (ASan, LSan,
    UBSan: pgrepl_testlib.sanitizer_env()) into a directory of its own; a
    test that leaves a report there, or whose binaries printed one (gcc's
    UBSan prints to stderr), fails, printing it. Autouse fixtures are
    set up first and torn down last, so the binaries the cluster fixture
    stops (a leak is reported at exit) are checked too."""
    directory = make_dir(tempfile.mkdtemp(prefix="pgrepl-san-"), 0o1777)
    pgrepl_testlib.SANITIZER_DIR = str(directory)
    del pgrepl_testlib.SANITIZER_OUTPUTS[:]
    yield directory
    pgrepl_testlib.SANITIZER_DIR = None
    reports = sanitizer_reports(directory, pgrepl_testlib.SANITIZER_OUTPUTS)
    del pgrepl_testlib.SANITIZER_OUTPUTS[:]
    if reports:
        text = "\n".join(f"--- {name}:\n{body}" for name, body in reports)
        pytest.fail(f"sanitizer report(s) in {directory}:\n{text}", pytrace=False)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def cluster():
    assert (BUILDDIR / "services").is_dir(), f"no build in {BUILDDIR}: run meson/ninja first"
    assert (PG_BIN / "postgres").exists(), "PostgreSQL 15 server is not installed"
    c = Cluster()
    yield c
    c.close()

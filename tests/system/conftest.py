# SPDX-License-Identifier: MIT
"""pytest fixtures for the system tests: one test bed per run, hosts per module.

- testbed     (session) the Testbed; skips everything when it cannot run here
- builddir    (session) the meson build to install (PGREPL_BUILDDIR or
              --pgrepl-builddir, default <repo>/build); skips if not built
- make_hosts  (module)  make_hosts("pg1", "pg2", persist=False, release=None)
              boots hosts concurrently (release: a Debian release, e.g.
              "trixie"; default the machine's) and removes them when the
              module is done
- install     (session) install(host): the .deb for the host's release, or
              the build on the machine's own release
- host_pair   (module)  two plain hosts, pg1 and pg2

Set PGT_KEEP=1 to keep /var/tmp/pgt-run (console logs) after a passing run;
it is always kept after a failing one.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    parser.getgroup("pgrepl").addoption(
        "--pgrepl-builddir", default=None,
        help="meson build dir installed into hosts (env PGREPL_BUILDDIR, default <repo>/build)")


def pytest_report_header(config):
    reason = harness.missing_prerequisites()
    return [f"pgrepl system tests: {'SKIPPED: ' + reason if reason else 'test bed available'}",
            f"pgrepl build dir: {_builddir(config)}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """PGREPL_NO_SKIP=1 (tests/run-all sets it) turns a skip into a failure:
    where every test can run, a skip hides a suite that did not."""
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("PGREPL_NO_SKIP") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, a failure with PGREPL_NO_SKIP=1: {reason}"


def _builddir(config) -> Path:
    chosen = (config.getoption("--pgrepl-builddir", default=None)
              or os.environ.get("PGREPL_BUILDDIR") or "build")
    path = Path(chosen)
    return path if path.is_absolute() else (REPO / path)


@pytest.fixture(scope="session")
def testbed(request):
    reason = harness.missing_prerequisites()
    if reason:
        pytest.skip(reason)
    tb = harness.Testbed()
    tb.open()
    try:
        yield tb
    finally:
        failed = request.session.testsfailed > 0
        tb.close(keep_run_dir=True if failed else None)


@pytest.fixture(scope="session")
def builddir(request) -> Path:
    path = _builddir(request.config).resolve()
    if not (path / "meson-private" / "install.dat").exists():
        pytest.skip(f"no meson build at {path} (meson setup --prefix=/usr {path} && ninja -C {path})")
    return path


@pytest.fixture(scope="session")
def install(request):
    """install(host): put pgrepl on a host the way users get it.

    On a host of the machine's release: the .deb named by PGREPL_DEB
    (tests/run-all builds it) with dpkg -i; or, when that is unset, the meson
    build (PGREPL_BUILDDIR, default <repo>/build) with meson install, for a
    quick run during development. On a host of another release: that
    release's .deb, named by PGREPL_DEB_<RELEASE> (PGREPL_DEB_TRIXIE;
    tests/run-all builds it), else built once per run with
    packaging/build-in-root into <builddir or build>/packages-<release>.
    """
    debs: dict[str, Path] = {}

    def release_deb(release: str) -> Path:
        if release in debs:
            return debs[release]
        named = os.environ.get(f"PGREPL_DEB_{release.upper()}")
        if named:
            path = Path(named).resolve()
            if not path.exists():
                pytest.fail(f"PGREPL_DEB_{release.upper()}={named} does not exist")
        else:
            out = _builddir(request.config) / f"packages-{release}"
            r = subprocess.run([str(REPO / "packaging" / "build-in-root"), release, str(out)],
                               capture_output=True, text=True, timeout=1800)
            if r.returncode != 0:
                pytest.fail(f"packaging/build-in-root {release} failed:\n{r.stderr[-3000:]}")
            path = Path(r.stdout.strip().splitlines()[-1])
        debs[release] = path
        return path

    deb = os.environ.get("PGREPL_DEB")
    own = None
    if deb:
        path = Path(deb).resolve()
        if not path.exists():
            pytest.fail(f"PGREPL_DEB={deb} does not exist")
        own = lambda host: host.install_deb(path)  # noqa: E731
    else:
        builddir = request.getfixturevalue("builddir")
        own = lambda host: host.install_build(builddir)  # noqa: E731

    def install_on(host):
        if host.release != host.tb.machine_release:
            return host.install_deb(release_deb(host.release))
        return own(host)

    return install_on


@pytest.fixture(scope="module")
def make_hosts(testbed):
    """Factory: boot hosts for this module (concurrently), removed at module end."""
    booted: list[harness.Host] = []

    def make(*names: str, persist: bool = False, release: str | None = None) -> list[harness.Host]:
        specs = [dict(name=n, persist_dir=testbed.persist_dir(n) if persist else None, release=release)
                 for n in names]
        try:
            hosts = testbed.boot_many(specs)
        except BaseException:
            booted.extend(testbed.hosts[n] for n in names if n in testbed.hosts)
            raise
        booted.extend(hosts)
        return hosts

    yield make
    errors = []
    for host in booted:
        try:
            testbed.remove(host)
        except Exception as e:      # remove the others all the same
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def host_pair(make_hosts) -> list[harness.Host]:
    return make_hosts("pg1", "pg2")

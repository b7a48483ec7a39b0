# SPDX-License-Identifier: MIT
"""The .deb's life cycle on a real systemd host: install, start a primary,
upgrade under it, remove, purge. tests/run-all builds both packages and
names them in PGREPL_DEB and PGREPL_DEB_UPGRADE (a higher version)."""

import os
from pathlib import Path

import pytest

ENV = """POSTGRESQL_USERNAME=my_user
POSTGRESQL_PASSWORD=password123
POSTGRESQL_DATABASE=my_database
POSTGRESQL_REPLICATION_USER=my_repl_user
POSTGRESQL_REPLICATION_PASSWORD=my_repl_password
"""


def _deb(var):
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is not set (tests/run-all builds the packages and sets it)")
    path = Path(value).resolve()
    assert path.exists(), f"{var}={value} does not exist"
    return path


def version(host):
    return host.run(["dpkg-query", "-W", "-f", "${Version} ${db:Status-Abbrev}", "pgrepl"],
                    check=False).stdout.strip()


def test_install_start_upgrade_remove_purge(make_hosts):
    deb, upgrade = _deb("PGREPL_DEB"), _deb("PGREPL_DEB_UPGRADE")
    host, = make_hosts("pkg1")
    # This machine's image carries a policy-rc.d that forbids maintainer scripts
    # to start or stop services (exit 101), as container build images do; a real
    # host has none, and the package's prerm must be seen stopping instances.
    host.run(["rm", "-f", "/usr/sbin/policy-rc.d"])

    host.install_deb(deb)
    assert version(host).startswith("0.1.0-1 ii")
    cat = host.systemctl("cat", "pgrepl-primary@x.service").stdout
    assert "ExecStart=/usr/libexec/pgrepl/pgrepl-primary-setup" in cat
    for unit in ("pgrepl-standby@x.service", "pgrepl-trigger@x.service"):
        host.systemctl("cat", unit)
    # The package started and enabled nothing.
    assert host.run("systemctl list-units --all --no-legend 'pgrepl*'").stdout.strip() == ""

    host.write_file("/etc/pgrepl/main.env", ENV, mode=0o600)
    host.systemctl("start", "pgrepl-primary@main", timeout=120)
    host.psql("create table kept(x int); insert into kept values (1), (2), (3)", user="my_user",
              db="my_database", host="127.0.0.1", password="password123")
    pid = host.unit_property("pgrepl-primary@main", "MainPID")

    # Upgrade under a running primary: it keeps running (or is restarted) with its data.
    host.install_deb(upgrade)
    assert version(host).startswith("0.1.0-2 ii")
    host.wait_unit("pgrepl-primary@main", "active", timeout=60)
    print(f"primary pid before/after upgrade: {pid}/{host.unit_property('pgrepl-primary@main', 'MainPID')}")
    assert host.psql("select count(*) from kept", db="my_database") == "3"
    host.systemctl("restart", "pgrepl-primary@main", timeout=120)
    assert host.psql("select count(*) from kept", db="my_database") == "3"

    # Remove: the instance stops; the env file and the data stay.
    host.run(["dpkg", "-r", "pgrepl"], timeout=300)
    assert host.unit_property("pgrepl-primary@main", "ActiveState") in ("inactive", "failed")
    assert host.run(["test", "-f", "/etc/pgrepl/main.env"], check=False).returncode == 0
    assert host.run(["test", "-f", "/var/lib/pgrepl/main/data/PG_VERSION"], check=False).returncode == 0
    assert host.run(["test", "-f", "/etc/pgrepl/pgrepl.conf"], check=False).returncode == 0  # a conffile

    # Purge: the package's configuration goes; the data directory and env file never do.
    host.run(["dpkg", "-P", "pgrepl"], timeout=300)
    assert version(host) == "" or " pn" in version(host) or version(host).endswith("un")
    assert host.run(["test", "-e", "/etc/pgrepl/pgrepl.conf"], check=False).returncode != 0
    assert host.run(["test", "-f", "/etc/pgrepl/main.env"], check=False).returncode == 0
    assert host.run(["test", "-f", "/var/lib/pgrepl/main/data/PG_VERSION"], check=False).returncode == 0

    # Reinstalling finds the data again: no initdb, the rows are there.
    host.install_deb(deb)
    host.systemctl("start", "pgrepl-primary@main", timeout=120)
    assert host.psql("select count(*) from kept", db="my_database") == "3"
    assert host.journal("pgrepl-primary@main").count("First start: initializing") == 1
    host.systemctl("stop", "pgrepl-primary@main", timeout=120)

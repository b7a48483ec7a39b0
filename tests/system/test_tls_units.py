# SPDX-License-Identifier: MIT
"""Replication over verified TLS under real systemd (issue 16).

tls1 runs `pgrepl-primary@main`, tls2 `pgrepl-standby@main` with
POSTGRESQL_MASTER_HOST = tls1's name; both have POSTGRESQL_ENABLE_TLS with
certificates of a CA made by openssl in the test, and root-only keys, which
the units' root step stages for postgres. The walsender is encrypted, and a
renewed certificate is served after `systemctl reload`.
"""

import subprocess
import tempfile
from pathlib import Path

import pytest

from cluster import *  # noqa: F401,F403 - the shared cluster vocabulary

TLS_DIR = "/etc/pgrepl/tls"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


class Pki:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pgt-pki-"))
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=pgrepl system test CA", "-days", "2",
                cwd=self.dir)
        self.serial = 1000

    def issue(self, host):
        """A certificate for the host's name and address; (crt, key, serial)."""
        self.serial += 1
        (self.dir / "ext").write_text(f"subjectAltName=DNS:{host.name},IP:{host.ip}\n"
                                      "extendedKeyUsage=serverAuth,clientAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "n.key",
                "-out", "n.csr", "-subj", f"/CN={host.name}", cwd=self.dir)
        openssl("x509", "-req", "-in", "n.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial",
                str(self.serial), "-days", "2", "-extfile", "ext", "-out", "n.crt", cwd=self.dir)
        return (self.dir / "n.crt").read_text(), (self.dir / "n.key").read_text(), self.serial

    def install(self, host):
        crt, key, serial = self.issue(host)
        host.write_file(f"{TLS_DIR}/ca.crt", (self.dir / "ca.crt").read_text(), mode=0o644)
        host.write_file(f"{TLS_DIR}/node.crt", crt, mode=0o644)
        host.write_file(f"{TLS_DIR}/node.key", key, mode=0o600)  # root only: the unit stages it
        return serial


TLS_ENV = {"ENABLE_TLS": "yes", "TLS_CERT_FILE": f"{TLS_DIR}/node.crt", "TLS_KEY_FILE": f"{TLS_DIR}/node.key",
           "TLS_CA_FILE": f"{TLS_DIR}/ca.crt"}


def served_serial(host):
    r = host.run(["sh", "-c", "openssl s_client -starttls postgres -connect 127.0.0.1:5432 </dev/null 2>/dev/null"
                  " | openssl x509 -noout -serial"], check=False)
    return int(r.stdout.strip().split("=", 1)[1], 16) if "=" in r.stdout else None


@pytest.fixture(scope="module")
def tls_hosts(make_hosts, install):
    hosts = make_hosts("tls1", "tls2")
    parallel(*(lambda h=h: install(h) for h in hosts))
    return hosts


def test_replication_over_verified_tls_and_reload_serves_a_renewed_certificate(tls_hosts):
    primary, standby = tls_hosts
    parallel(*(lambda h=h: reset(h) for h in tls_hosts))
    pki = Pki()
    serial = pki.install(primary)
    pki.install(standby)
    start_primary(primary, dict(MASTER, **{f"POSTGRESQL_{k}": v for k, v in TLS_ENV.items()}))
    assert primary.psql("show ssl") == "on"
    start_standby(standby, primary, **TLS_ENV)
    wait_replication(primary, [(standby.ip, "walreceiver", "streaming", "async")])
    # The walsender is encrypted, and the standby presented its own certificate.
    assert primary.psql("select s.ssl, s.client_dn from pg_stat_replication r join pg_stat_ssl s using (pid)") \
        == f"t|/CN={standby.name}"
    conninfo = standby.psql("show primary_conninfo").replace("'", "")
    assert "sslmode=verify-full" in conninfo and f"sslrootcert={TLS_DIR}/ca.crt" in conninfo, conninfo
    assert "sslkey=/run/pgrepl/main/secrets/POSTGRESQL_TLS_KEY_FILE" in conninfo, conninfo
    # Plain text replication is refused.
    r = standby.run(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d",
                     f"host={primary.ip} user=my_repl_user dbname=replication replication=true sslmode=disable",
                     "-c", "IDENTIFY_SYSTEM"], check=False, env={"PGPASSWORD": "my_repl_password"})
    assert r.returncode != 0 and "no encryption" in r.stderr, r.stderr

    assert served_serial(primary) == serial
    renewed = pki.install(primary)
    primary.systemctl("reload", PRIMARY, timeout=120)
    primary.wait_for(lambda: served_serial(primary) == renewed, timeout=60, what="the renewed certificate")
    assert primary.unit_property(PRIMARY, "ActiveState") == "active"
    # Streaming carries on (the walsender keeps its session; new ones get the new certificate).
    wait_replication(primary, [(standby.ip, "walreceiver", "streaming", "async")])

# SPDX-License-Identifier: MIT
"""POSTGRESQL_ENABLE_TLS against real PostgreSQL 15 with certificates made
by openssl in the test: the image's validation, a root-only key staged for
the service user, replication over verified TLS (hostssl, verify-full), a
certificate for the wrong name refused with a reason that says so, and a
renewed certificate served after --reload."""

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pgrepl_testlib import PG_BIN, PGUSER, binary, make_dir


def wait_until(fn, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


class Pki:
    """A CA and certificates it signs, in one directory owned by postgres."""

    def __init__(self, root, root_owned=False):
        if root_owned:
            # Root's alone on the whole path, as --stage-secrets requires of what it copies.
            self.dir = Path(tempfile.mkdtemp(prefix="pgrepl-pki-"))
            self.dir.chmod(0o755)
        else:
            self.dir = make_dir(Path(root) / "pki", 0o755)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=pgrepl test CA", "-days", "2", cwd=self.dir)
        self.ca = self.dir / "ca.crt"
        self.serial = 100

    def cert(self, name, sans, owner=PGUSER, key_mode=0o600):
        """name.crt and name.key for sans (DNS:/IP: entries), serving and client use both."""
        self.serial += 1
        (self.dir / f"{name}.ext").write_text(
            f"subjectAltName={','.join(sans)}\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(self.serial), "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.crt", cwd=self.dir)
        crt, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        for f in (crt, key, self.ca):
            os.chown(f, owner.pw_uid, owner.pw_gid)
        crt.chmod(0o644)
        self.ca.chmod(0o644)
        key.chmod(key_mode)
        return crt, key, self.serial

    def env(self, name, ca=True):
        e = {"POSTGRESQL_ENABLE_TLS": "yes", "POSTGRESQL_TLS_CERT_FILE": str(self.dir / f"{name}.crt"),
             "POSTGRESQL_TLS_KEY_FILE": str(self.dir / f"{name}.key")}
        if ca:
            e["POSTGRESQL_TLS_CA_FILE"] = str(self.ca)
        return e


@pytest.fixture
def pki(cluster):
    return Pki(cluster.root)


def statuses(n):
    return n.notify.all("STATUS")


def served_serial(port):
    """The serial of the certificate the server presents, as openssl s_client sees it."""
    r = subprocess.run(["openssl", "s_client", "-starttls", "postgres", "-connect", f"127.0.0.1:{port}"],
                       input="", capture_output=True, text=True, timeout=30)
    pem = r.stdout[r.stdout.find("-----BEGIN CERTIFICATE-----"):]
    assert pem, r.stdout + r.stderr
    x = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True,
                       check=True)
    return int(x.stdout.strip().split("=", 1)[1], 16)


def stage_secrets(node):
    """The unit's ExecStartPre=+/ExecReload=+ step: as root."""
    env = node.command_env(notify=False)
    r = subprocess.run([binary(node.binary_name), "--stage-secrets"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("change,needle", [
    ({"POSTGRESQL_TLS_CERT_FILE": None}, "POSTGRESQL_TLS_CERT_FILE is not set: POSTGRESQL_ENABLE_TLS=yes needs"),
    ({"POSTGRESQL_TLS_CERT_FILE": "/nonexistent/server.crt"}, "POSTGRESQL_TLS_CERT_FILE='/nonexistent/server.crt'"),
    ({"POSTGRESQL_TLS_KEY_FILE": None}, "POSTGRESQL_TLS_KEY_FILE is not set"),
    ({"POSTGRESQL_TLS_CA_FILE": "/nonexistent/ca.crt"}, "POSTGRESQL_TLS_CA_FILE='/nonexistent/ca.crt'"),
    ({"POSTGRESQL_TLS_CRL_FILE": "/nonexistent/ca.crl"}, "does not exist"),
    ({"POSTGRESQL_ENABLE_TLS": "maybe"}, "POSTGRESQL_ENABLE_TLS='maybe'"),
    ({"POSTGRESQL_TLS_PREFER_SERVER_CIPHERS": "perhaps"}, "POSTGRESQL_TLS_PREFER_SERVER_CIPHERS='perhaps'"),
    ("world-readable-key", "others may read it (mode 0644)"),
])
def test_bad_tls_configuration_is_refused_with_one_line(cluster, pki, change, needle):
    pki.cert("node", ["DNS:localhost"])
    env = pki.env("node")
    if change == "world-readable-key":
        (pki.dir / "node.key").chmod(0o644)
    else:
        env.update(change)
    p = cluster.primary(env=env)
    for args in (["--check"], []):
        r = p.run_once(args)
        assert r.returncode == 78, r.stdout + r.stderr
        errors = [l for l in r.stderr.splitlines() if l.startswith("<3>")]
        assert len(errors) == 1 and needle in errors[0], r.stderr
    assert not p.datadir.exists()


def test_tls_files_set_without_enable_tls_are_named(cluster, pki):
    pki.cert("node", ["DNS:localhost"])
    env = pki.env("node")
    env["POSTGRESQL_ENABLE_TLS"] = "no"
    r = cluster.primary(env=env).run_once(["--check"])
    assert r.returncode == 0
    assert "POSTGRESQL_TLS_CERT_FILE (from environment) is set but POSTGRESQL_ENABLE_TLS is not" in r.stderr


def test_replication_over_verified_tls_and_plain_text_refused(cluster, pki):
    pki.cert("primary", ["DNS:localhost", "IP:127.0.0.1"])
    _, _, standby_serial = pki.cert("standby", ["DNS:localhost", "IP:127.0.0.1"])
    p = cluster.primary(env=pki.env("primary"))
    p.start()
    p.wait_ready()
    conf = (p.datadir / "pgrepl.auto.conf").read_text()
    assert "ssl = on\n" in conf and f"ssl_ca_file = '{pki.ca}'" in conf
    assert p.psql("show ssl") == "on"
    hba = (p.datadir / "pg_hba.conf").read_text()
    assert "hostssl replication  \"repl\"" in hba and "host    replication" not in hba

    # An ordinary client with verify-full is served over TLS.
    assert p.psql("select ssl from pg_stat_ssl where pid = pg_backend_pid()", user="postgres", host="localhost",
                  password="secret-pw", extra=f"sslmode=verify-full sslrootcert={pki.ca}") == "t"
    # Plain text replication is refused by the hostssl lines.
    r = p.psql("IDENTIFY_SYSTEM", user="repl", password="repl-pw", host="127.0.0.1",
               extra="sslmode=disable replication=true", check=False)
    assert r.returncode != 0 and "no pg_hba.conf entry" in r.stderr and "no encryption" in r.stderr, r.stderr

    s = cluster.standby("sb1", p, env=pki.env("standby"))
    s.start()
    s.wait_ready(90)
    conninfo = (s.datadir / "pgrepl.auto.conf").read_text()
    assert "sslmode=''verify-full''" in conninfo and f"sslrootcert=''{pki.ca}''" in conninfo
    assert f"sslcert=''{pki.dir}/standby.crt''" in conninfo
    row = wait_until(lambda: p.psql("select s.ssl, s.client_serial from pg_stat_replication r "
                                    "join pg_stat_ssl s using (pid)"), 30, "a walsender")
    assert row == f"t|{standby_serial}", row  # encrypted, and the standby presented its own certificate


def test_certificate_for_another_name_is_refused_and_named(cluster, pki):
    pki.cert("primary", ["DNS:db-elsewhere.example"])
    pki.cert("standby", ["DNS:localhost", "IP:127.0.0.1"])
    p = cluster.primary(env=pki.env("primary"))
    p.start()
    p.wait_ready()
    s = cluster.standby("sb1", p, env=pki.env("standby"))
    s.start()
    wanted = f"waiting for primary '127.0.0.1:{p.port}': its TLS certificate does not match the host name"
    wait_until(lambda: any(x.startswith(wanted) for x in statuses(s)), 30, "the certificate in STATUS")
    line = wait_until(lambda: [l for l in s.output().splitlines() if "Waiting for primary" in l], 10,
                      "the certificate in the log")[0]
    assert "its TLS certificate does not match the host name" in line, line
    assert 'server certificate for "db-elsewhere.example"' in line and 'host name "127.0.0.1"' in line, line
    assert s.proc.poll() is None and not s.datadir.exists()


def test_root_only_key_is_staged_and_a_renewed_certificate_is_served_after_reload(cluster):
    pki = Pki(cluster.root, root_owned=True)
    root = type("R", (), {"pw_uid": 0, "pw_gid": 0})
    _, key, serial = pki.cert("primary", ["DNS:localhost", "IP:127.0.0.1"], owner=root)
    assert key.stat().st_uid == 0
    p = cluster.primary(env=pki.env("primary"))
    stage_secrets(p)
    staged = p.run / "secrets" / "POSTGRESQL_TLS_KEY_FILE"
    assert staged.stat().st_uid == PGUSER.pw_uid and (staged.stat().st_mode & 0o777) == 0o600
    p.start()
    p.wait_ready()
    assert f"ssl_key_file = '{staged}'" in (p.datadir / "pgrepl.auto.conf").read_text()
    assert served_serial(p.port) == serial

    _, _, renewed = pki.cert("primary", ["DNS:localhost", "IP:127.0.0.1"], owner=root)
    assert renewed != serial
    stage_secrets(p)
    r = p.run_once(["--reload"])
    assert r.returncode == 0, r.stderr
    wait_until(lambda: served_serial(p.port) == renewed, 30, "the renewed certificate")
    assert p.proc.poll() is None


def test_partners_over_tls_fence_and_rejoin_by_rewind(cluster, pki):
    """Every connection between partners is verify-full: the clone, streaming, the fence's questions and
    pg_rewind's source connection, with certificates naming 127.0.0.1, the name in the partner line."""
    from pgrepl_testlib import free_port
    from test_partners import partner_line, sender_port, slot, slots_on, start, watcher
    from test_standby import kill_tree

    ports = [free_port() for _ in range(2)]
    for name in ("p", "s1"):
        pki.cert(name, ["IP:127.0.0.1"])
    env = {"POSTGRESQL_PARTNER_NODES": partner_line(*ports), "POSTGRESQL_FENCE_TIMEOUT": "3"}
    p = cluster.primary("p", env={**env, **pki.env("p")}, port=ports[0])
    s1 = cluster.standby("s1", env={**env, **pki.env("s1"), "POSTGRESQL_MASTER_HOST": None}, port=ports[1])
    start(p)
    start(s1)
    wait_until(lambda: sender_port(s1) == str(ports[0]), 30, "s1 streaming")
    assert p.psql("select s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)") == "t"
    watcher(cluster, s1)
    wait_until(lambda: slot(ports[0]) in slots_on(s1), 30, "a slot for p on s1")
    p.psql("create table t(id int primary key, note text); insert into t values (1, 'before')")
    wait_until(lambda: s1.psql("select count(*) from t") == "1", 30, "row 1 on s1")

    s1.stop()
    p.psql("insert into t values (666, 'split brain')")
    kill_tree(p.proc.pid)
    p.proc.wait()
    start(s1)
    s1.psql("select pg_promote()")
    s1.psql("insert into t values (2, 'after')")

    # The fence asks s1 over TLS and learns it was promoted.
    r = p.run_once(timeout=60)
    assert r.returncode == 79, (r.returncode, r.stderr)

    old = cluster.standby("p-again", env={**env, **pki.env("p"), "POSTGRESQL_MASTER_HOST": None,
                                          "POSTGRESQL_DATA_DIR": str(p.datadir), "STATE_DIRECTORY": str(p.state)},
                          port=ports[0])
    start(old)
    assert "Rewound" in old.output(), old.output()
    wait_until(lambda: sender_port(old) == str(ports[1]), 30, "old primary streaming from s1")
    assert old.psql("select string_agg(note, ',' order by id) from t") == "before,after"
    assert s1.psql("select s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)") == "t"


def test_pgreplctl_verifies_partners_as_the_units_do(cluster, pki):
    """pgreplctl asks the partners with the instance's TLS settings (verify-full against its CA), as the
    units do: a partner whose certificate names another host is not reported as a reachable primary."""
    from pgrepl_testlib import free_port
    from test_partners import partner_line
    from test_pgreplctl import Conf, instance

    port, other = free_port(), free_port()
    pki.cert("p", ["DNS:db-elsewhere.example"])
    env = {"POSTGRESQL_PARTNER_NODES": partner_line(port, other), "POSTGRESQL_FENCE_TIMEOUT": "3"}
    p = cluster.primary("p", env={**env, **pki.env("p")}, port=port)
    p.start()
    p.wait_ready()
    conf = Conf(cluster)
    conf.write(p, "master")
    for user in (None, "nobody"):
        r, doc = conf.status("p", user=user)
        me = instance(doc, "p")["partners"][0]
        assert me["reachable"] is False, (user, me, r.stderr)
        assert "certificate" in me["reason"], (user, me)

    # With a certificate for the name in the partner line, the same run finds it.
    pki.cert("p", ["IP:127.0.0.1"])
    r = p.run_once(["--reload"])
    assert r.returncode == 0, r.stderr
    wait_until(lambda: instance(conf.status("p")[1], "p")["partners"][0]["role"] == "primary", 30,
               "p reachable over verified TLS")

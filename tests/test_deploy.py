"""The deployment files: nginx (Debian's package, really started) in front of gunicorn
with deploy/gunicorn.conf.py, and the supervisor, Docker and compose files checked
against each other (Docker cannot run here)."""

from __future__ import annotations

import configparser
import csv
import grp
import io
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from support import PROJECT_ROOT, require_part

from server import db, keys
from server.config import Settings

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import load_test  # bench/load_test.py (Ops A): starts gunicorn with deploy/gunicorn.conf.py

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "creditscorer.conf"
PROXY_RULES = DEPLOY / "nginx" / "creditscorer-proxy.conf"
COMPOSE_SITE = DEPLOY / "nginx" / "compose.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the shipped site no longer has exactly one {old!r}"
    return text.replace(old, new)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def nginx_config(tmp: Path, upstream: str, http_port: int, https_port: int) -> Path:
    """The shipped site with only its placeholders and addresses replaced, in a minimal
    nginx.conf that runs unprivileged from ``tmp``."""
    cert, key = _self_signed(tmp)
    site = SITE.read_text(encoding="utf-8")
    site = _replace_once(site, "server 127.0.0.1:8000;", f"server {upstream};")
    site = _replace_once(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = _replace_once(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = _replace_once(site, "listen [::]:80;", "")
    site = _replace_once(site, "listen [::]:443 ssl;", "")
    site = _replace_once(site, "/etc/ssl/creditscorer/fullchain.pem", str(cert))
    site = _replace_once(site, "/etc/ssl/creditscorer/privkey.pem", str(key))
    site = _replace_once(site, "/etc/nginx/snippets/creditscorer-proxy.conf", str(PROXY_RULES))
    (tmp / "site.conf").write_text(site, encoding="utf-8")
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
user {user} {group};
worker_processes 1;
daemon off;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log {tmp / "access.log"};
{temp_paths}
    include {tmp / "site.conf"};
}}
""",
        encoding="utf-8",
    )
    return conf


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("nginx exited:\n" + log.read_text(errors="replace"))
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("nginx did not listen:\n" + log.read_text(errors="replace"))


@pytest.fixture(scope="module")
def nginx_in_front_of_gunicorn(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("nginx")
    require_part(NGINX is not None, "nginx")
    require_part(shutil.which("openssl") is not None, "openssl")
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = db.make_engine(database_url)
    try:
        keys.create_tables(engine)
        _, key = keys.create_key(engine, "through nginx")
        _, other_key = keys.create_key(engine, "to revoke")
    finally:
        engine.dispose()
    env = load_test.server_env(model_dir, database_url)
    with load_test.gunicorn_server(env, workers=2) as app:
        upstream = app.url.removeprefix("http://")
        http_port, https_port = _free_port(), _free_port()
        conf = nginx_config(tmp_path, upstream, http_port, https_port)
        log = tmp_path / "nginx.out"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_port(https_port, process, tmp_path / "error.log")
            yield {
                "https": f"https://127.0.0.1:{https_port}",
                "http": f"http://127.0.0.1:{http_port}",
                "verify": str(tmp_path / "fullchain.pem"),
                "key": key,
                "other_key": other_key,
                "database_url": database_url,
                "gunicorn": app.url,
                "access_log": tmp_path / "access.log",
            }
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.mark.slow
def test_nginx_proxies_to_gunicorn_with_tls_keys_request_ids_and_a_body_limit(
    nginx_in_front_of_gunicorn,
):
    site = nginx_in_front_of_gunicorn
    base, verify = site["https"], site["verify"]
    health = requests.get(base + "/health", verify=verify, timeout=30)
    assert health.status_code == 200
    assert set(health.json()["models"]) == {"logistic", "forest", "logistic_full", "forest_full"}
    # nginx gives a request without an id its own, which the app echoes in header and body.
    assert re.fullmatch(r"[0-9a-f]{32}", health.headers["X-Request-ID"])
    # Keys pass through unchanged in either header; a missing one gets the app's 401.
    assert requests.get(base + "/v1/models", verify=verify, timeout=30).status_code == 401
    headers = {"X-API-Key": site["key"], "X-Request-ID": "sheet-42"}
    score = requests.post(
        base + "/v1/predict",
        json={"duration": 24, "amount": 4000, "age": 35},
        headers=headers,
        verify=verify,
        timeout=30,
    )
    assert score.status_code == 200, score.text
    assert score.headers["X-Request-ID"] == score.json()["request_id"] == "sheet-42"
    bearer = {"Authorization": f"Bearer {site['key']}"}
    batch = requests.post(
        base + "/v1/predict/batch",
        data="duration,amount,age\n24,4000,35\n12,1000,40\n",
        headers={**bearer, "Content-Type": "text/csv", "Accept": "text/csv"},
        verify=verify,
        timeout=30,
    )
    assert batch.status_code == 200
    lines = list(csv.reader(io.StringIO(batch.text)))
    assert lines[0][:5] == ["duration", "amount", "age", "probability_default", "decision"]
    assert len(lines) == 3
    # A body over the limit is refused by nginx itself, as problem+json with an id.
    too_big = requests.post(
        base + "/v1/predict/batch",
        data=b"x" * (Settings().max_request_bytes + 1),
        headers={**bearer, "Content-Type": "text/csv"},
        verify=verify,
        timeout=60,
    )
    assert too_big.status_code == 413
    assert too_big.headers["Content-Type"] == "application/problem+json"
    assert too_big.json()["status"] == 413
    assert too_big.json()["request_id"] == too_big.headers["X-Request-ID"]
    # Plain HTTP is redirected to HTTPS.
    plain = requests.get(site["http"] + "/health", allow_redirects=False, timeout=30)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    assert site["key"] not in site["access_log"].read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_revoked_key_fails_at_once_in_every_gunicorn_worker(nginx_in_front_of_gunicorn):
    site = nginx_in_front_of_gunicorn
    headers = {"X-API-Key": site["other_key"], "Connection": "close"}
    assert requests.get(site["gunicorn"] + "/v1/models", headers=headers, timeout=30).ok
    engine = db.make_engine(site["database_url"])
    try:
        assert keys.revoke_key(engine, site["other_key"].split("_")[1])
    finally:
        engine.dispose()
    # New connections, so both workers' accept loops take some of them; none may pass.
    statuses = {
        requests.get(site["gunicorn"] + "/v1/models", headers=headers, timeout=30).status_code
        for _ in range(20)
    }
    assert statuses == {401}


def test_the_proxy_body_limit_matches_the_app_setting():
    rules = PROXY_RULES.read_text(encoding="utf-8")
    (limit,) = re.findall(r"^client_max_body_size (\S+);", rules, flags=re.MULTILINE)
    assert _size(limit) == Settings().max_request_bytes
    assert f"{Settings().max_request_bytes // 1024**2} MiB" in rules  # the 413 message


def _gunicorn_setting(name: str):
    source = (DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8")
    match = re.search(rf'^{name} = .*?"(\d+)"\)\)|^{name} = (\d+)', source, flags=re.MULTILINE)
    assert match, f"deploy/gunicorn.conf.py sets no {name}"
    return int(match.group(1) or match.group(2))


def test_proxy_timeouts_outlast_the_gunicorn_worker_timeout():
    rules = PROXY_RULES.read_text(encoding="utf-8")
    (read_timeout,) = re.findall(r"proxy_read_timeout (\d+)s;", rules)
    assert int(read_timeout) > _gunicorn_setting("timeout")


def test_supervisor_runs_gunicorn_with_the_shipped_config_and_waits_for_it_to_stop():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(DEPLOY / "supervisor" / "creditscorer.conf")
    program = parser["program:creditscorer"]
    command = program["command"].split()
    assert command[0].endswith("/gunicorn")
    config = command[command.index("-c") + 1]
    assert (PROJECT_ROOT / Path(config).relative_to("/srv/creditscorer")).is_file()
    assert command[-1] == "server.wsgi:app"
    assert int(program["stopwaitsecs"]) > _gunicorn_setting("graceful_timeout")
    assert program["stopsignal"] == "TERM"
    assert "%(ENV_CREDITSCORER_DATABASE_URL)s" in program["environment"]  # no secret here


def test_the_dockerfile_copies_what_exists_and_runs_gunicorn_unprivileged():
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    for sources in copies:
        for source in sources:
            assert (PROJECT_ROOT / source).exists(), source
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    (cmd,) = [line for line in lines if line.startswith("CMD ")]
    assert '"deploy/gunicorn.conf.py"' in cmd
    assert '"server.wsgi:app"' in cmd
    assert "CREDITSCORER_BIND=0.0.0.0:8000" in "\n".join(lines)


def test_the_compose_file_parses_and_wires_nginx_apps_and_postgres():
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert set(services) == {"db", "train", "app", "nginx"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["app"]["deploy"]["replicas"] >= 2
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["train"]["condition"] == ("service_completed_successfully")
    app_env = services["app"]["environment"]
    assert app_env["CREDITSCORER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert app_env["CREDITSCORER_TRAIN_IF_MISSING"] == "0"
    assert services["app"]["volumes"] == services["train"]["volumes"] == ["models:/data/models"]
    for mount in services["nginx"]["volumes"]:
        source = mount.split(":")[0]
        if source != "./tls":  # the certificates are the operator's, never in the repo
            assert (DEPLOY / source).is_file(), source
    assert "server app:8000;" in COMPOSE_SITE.read_text(encoding="utf-8")
    assert "include /etc/nginx/snippets/creditscorer-proxy.conf;" in COMPOSE_SITE.read_text(
        encoding="utf-8"
    )
    # Passwords come from the environment (deploy/.env, not in the repository).
    assert re.findall(r"PASSWORD\S*: \"?\$\{POSTGRES_PASSWORD:\?", text)
    assert not re.search(r"PASSWORD\S*: \"?[^$\s\"]", text)

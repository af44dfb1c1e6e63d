"""The Office add-in: served by the server, its manifest valid offline and all its URLs live,
its custom functions' metadata current, and its custom functions run in Node against a
real server."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import PROJECT_ROOT, require_part

from server import create_app
from server.addin import CSP, MANIFEST_ORIGIN

ADDIN = PROJECT_ROOT / "addin"
PUBLIC = ADDIN / "public"
NPM_HINT = "run: cd addin && npm ci"


def require_node() -> str:
    node = shutil.which("node")
    require_part(node is not None, "node is not installed (apt-get install nodejs npm)")
    require_part(
        (ADDIN / "node_modules").is_dir(), f"the add-in's npm packages are missing ({NPM_HINT})"
    )
    assert node is not None
    return node


def run_node(args: list[str], env: dict[str, str] | None = None, timeout: float = 180):
    import os

    return subprocess.run(
        [require_node(), *args],
        cwd=ADDIN,
        env={**os.environ, "OFFICE_ADDIN_USAGE_DATA_OPT_OUT": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def keyed_app(model_dir: Path, tmp_path: Path):
    from server import keys

    url = f"sqlite:///{tmp_path / 'addin.sqlite3'}"
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=url)
    keys.create_key(app.extensions["creditscorer.db"], "analyst", "client")
    yield app
    app.extensions["creditscorer.db"].dispose()


def test_the_addin_files_are_served_without_a_key_and_with_the_office_csp(keyed_app):
    client = keyed_app.test_client()
    assert client.get("/v1/models").status_code == 401  # keys are on
    for name in ("taskpane.html", "taskpane.js", "functions.js", "functions.json", "icon-32.png"):
        reply = client.get(f"/addin/{name}")
        assert reply.status_code == 200, name
        assert reply.headers["Content-Security-Policy"] == CSP
        assert reply.get_data() == (PUBLIC / name).read_bytes()
        reply.close()  # the file's handle
    home = client.get("/addin/")
    assert home.get_data() == (PUBLIC / "taskpane.html").read_bytes()
    home.close()
    assert client.get("/addin/nothing.html").status_code == 404
    assert client.get("/addin/../server/keys.py").status_code == 404
    assert client.get("/addin/package.json").status_code == 404


def test_the_csp_allows_only_this_server_and_microsofts_office_cdn():
    sources = set(re.findall(r"https?://[^\s;]+", CSP))
    assert sources == {"https://appsforoffice.microsoft.com"}
    assert "default-src 'none'" in CSP
    assert "connect-src 'self'" in CSP
    for page in PUBLIC.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        external = set(re.findall(r'(?:src|href)="(https?://[^"]+)"', html))
        assert external <= {"https://appsforoffice.microsoft.com/lib/1/hosted/office.js"}, page
        assert "<script>" not in html, page  # nothing inline
        assert "style=" not in html, page


def test_the_manifest_carries_the_origin_it_was_fetched_from(keyed_app):
    reply = keyed_app.test_client().get(
        "/addin/manifest.xml", base_url="https://scoring.example.org"
    )
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200
    assert MANIFEST_ORIGIN not in text
    assert "https://scoring.example.org/addin/taskpane.html" in text
    behind_proxy = keyed_app.test_client().get(
        "/addin/manifest.xml",
        base_url="http://scoring.example.org",
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "https://scoring.example.org/addin/functions.js" in behind_proxy.get_data(as_text=True)


def _manifest_urls(text: str) -> set[str]:
    root = ET.fromstring(text)  # noqa: S314 (our own server's manifest)
    urls = {
        e.get("DefaultValue")
        for e in root.iter()
        if (e.get("DefaultValue") or "").startswith("http")
    }
    urls |= {e.text.strip() for e in root.iter() if e.tag.endswith("AppDomain") and e.text}
    return {u for u in urls if u}


def test_every_url_in_the_served_manifest_resolves_on_the_running_server(live_server):
    reply = live_server.get("/addin/manifest.xml")
    assert reply.status_code == 200
    urls = _manifest_urls(reply.text)
    assert len(urls) >= 8
    for url in urls:
        assert url.startswith(live_server.url), url
        if url == live_server.url:
            continue  # the AppDomain: the origin itself
        got = live_server.get(url[len(live_server.url) :])
        assert got.status_code == 200, url
    assert _manifest_urls((PUBLIC / "manifest.xml").read_text()) == {
        u.replace(live_server.url, MANIFEST_ORIGIN) for u in urls
    }


def test_the_manifest_validates_offline_against_microsofts_schema(live_server, tmp_path):
    served = tmp_path / "manifest.xml"
    served.write_text(live_server.get("/addin/manifest.xml").text, encoding="utf-8")
    for manifest in (PUBLIC / "manifest.xml", served):
        result = run_node(["tools/validate-manifest.js", str(manifest)])
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"errors":[]' in result.stdout
        assert '"hosts":["Workbook"]' in result.stdout
    text = (PUBLIC / "manifest.xml").read_text(encoding="utf-8")
    for old, new in (
        ("<Id>7e0ba9c5-ca94-4dfc-ab94-8b1885e5a0e6</Id>", "<Id>not-a-guid</Id>"),
        ("</OfficeApp>", ""),  # not well-formed
    ):
        assert old in text
        broken = tmp_path / "broken.xml"
        broken.write_text(text.replace(old, new), encoding="utf-8")
        result = run_node(["tools/validate-manifest.js", str(broken)])
        assert result.returncode == 1, (new, result.stdout)


def test_the_custom_functions_metadata_is_generated_and_current(tmp_path):
    fresh = tmp_path / "functions.json"
    result = run_node(
        [
            "node_modules/custom-functions-metadata/cli.js",
            "generate",
            "public/functions.js",
            str(fresh),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert fresh.read_text() == (PUBLIC / "functions.json").read_text(), (
        "addin/public/functions.json is stale: cd addin && npm run metadata"
    )


def test_the_custom_functions_run_in_node_against_a_real_server(live_server):
    result = run_node(
        ["--test", "test/functions.test.js"], env={"CREDITSCORER_URL": live_server.url}
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", result.stdout, re.M)
    assert re.search(r"^# fail 0$", result.stdout, re.M)


def test_over_tls_the_manifest_names_https_urls_that_all_resolve(server_factory, tmp_path):
    import requests

    openssl = shutil.which("openssl")
    require_part(openssl is not None, "openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    server = server_factory(args=["--cert", str(cert), "--key", str(key)])
    assert server.url.startswith("https://127.0.0.1:")
    manifest = requests.get(server.url + "/addin/manifest.xml", verify=str(cert), timeout=30)
    urls = _manifest_urls(manifest.text)
    assert f"{server.url}/addin/taskpane.html" in urls
    for url in sorted(urls - {server.url}):
        assert requests.get(url, verify=str(cert), timeout=30).status_code == 200, url

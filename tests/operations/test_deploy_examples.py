"""The deployment examples in deploy/ say what docs/deploy.md says they do: one beat, TLS 1.2+ only, a
streamed large body for STOW-RS, /metrics kept off the public listener, every process on the same env."""

import re

import yaml

from tests.operations.services import ROOT

DEPLOY = ROOT / "deploy"


def test_the_compose_file_runs_every_process_and_exactly_one_beat():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]

    assert {"db", "redis", "minio", "migrate", "web", "worker", "beat", "dicom-scp", "nginx"} <= set(services)
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert "--tls-cert" in services["dicom-scp"]["command"]
    for name in ("web", "worker", "beat", "dicom-scp", "migrate"):
        assert services[name]["env_file"] == "production.env"
    # The runtime role is not the owner that migrates, and neither is the postgres superuser.
    assert "palisade_app" in services["web"]["environment"]["DATABASE_URL"]
    assert "palisade_owner" in services["migrate"]["environment"]["DATABASE_URL"]
    init = (DEPLOY / "postgres" / "init.sql").read_text()
    assert init.count("NOSUPERUSER NOBYPASSRLS") == 2


def test_the_systemd_units_run_each_process_from_the_same_environment():
    units = {path.name: path.read_text() for path in (DEPLOY / "systemd").glob("*.service")}

    assert set(units) == {
        "palisade-web.service",
        "palisade-worker@.service",
        "palisade-beat.service",
        "palisade-dicom-scp.service",
    }
    for text in units.values():
        assert "EnvironmentFile=/etc/palisade/palisade.env" in text
        assert "User=palisade" in text and "LimitCORE=0" in text
    assert "portal.asgi:application" in units["palisade-web.service"]
    assert "--host 127.0.0.1" in units["palisade-web.service"]
    assert "celery -A portal beat" in units["palisade-beat.service"]
    assert "--tls-ca" in units["palisade-dicom-scp.service"]


def test_the_nginx_site_is_tls_only_streams_stow_and_keeps_metrics_internal():
    site = (DEPLOY / "nginx" / "palisade.conf").read_text()

    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", site)
    assert "return 301 https://" in site
    assert "Strict-Transport-Security" in site
    assert re.search(r"client_max_body_size\s+\d+g;", site)
    assert "proxy_request_buffering off;" in site and "proxy_buffering off;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "proxy_set_header X-Request-ID $request_id;" in site
    public = site[: site.index("# Prometheus on the internal network only")]
    assert "location = /metrics { return 404; }" in public
    # The access log has no query string (QIDO-RS searches carry patient names).
    assert "$request_uri" not in site.split("log_format", 1)[1].split(";", 1)[0]

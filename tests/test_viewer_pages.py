"""The OHIF viewer's routes at /viewer/: who gets them, which clinic they point at, and their headers.

These run against the OHIF build `make test` installs (tests/viewer.py); the browser test
(test_viewer_browser.py) shows a study in it.
"""

import json
import re
import uuid

import pytest
from django.urls import reverse

from accounts.roles import Role
from imaging.viewer.install import APP_CONFIG_PLACEHOLDER
from tests.factories import StudyFactory
from tests.viewer import require_installed_viewer

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@pytest.fixture(autouse=True)
def _installed_viewer():
    require_installed_viewer()


@pytest.fixture
def radiologist_client(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    return client


def _app_bundle_path(client, tenant) -> str:
    shell = client.get(reverse("viewer", args=[tenant.slug])).content.decode()
    return re.search(r'src="(/viewer/app\.bundle\.[0-9a-f]+\.js)"', shell).group(1)


def _config(response) -> dict:
    """window.config of an app-config.js answer (the JSON before the error handler is attached)."""
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
    return json.loads(text.removeprefix("window.config = ").split(";\nwindow.config.httpErrorHandler")[0])


def test_anonymous_visitors_are_sent_to_sign_in_from_every_viewer_route(client, tenant):
    urls = [
        reverse("viewer-home"),
        reverse("viewer", args=[tenant.slug]),
        reverse("viewer-route", args=[tenant.slug, "viewer"]) + "?StudyInstanceUIDs=1.2.3",
        reverse("viewer-config", args=[tenant.slug]),
        reverse("viewer", args=["no-such-clinic"]),
        reverse("viewer-file", args=["app.bundle.css"]),
    ]

    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_the_shell_answers_every_client_side_route_and_loads_its_clinics_config(radiologist_client, tenant):
    config_url = reverse("viewer-config", args=[tenant.slug])

    for url in (
        reverse("viewer", args=[tenant.slug]),
        reverse("viewer-route", args=[tenant.slug, "viewer"]) + "?StudyInstanceUIDs=1.2.3",
        reverse("viewer-route", args=[tenant.slug, "segmentation/palisade"]),
    ):
        response = radiologist_client.get(url)
        shell = response.content.decode()
        assert response.status_code == 200, url
        assert f'src="{config_url}"' in shell
        assert APP_CONFIG_PLACEHOLDER not in shell
        assert 'window.PUBLIC_URL="/viewer/"' in shell
        assert response["Cache-Control"].startswith("max-age=0")


def test_the_installed_shell_names_nothing_outside_viewer(radiologist_client, tenant):
    shell = radiologist_client.get(reverse("viewer", args=[tenant.slug])).content.decode()

    root_absolute = re.findall(r'(?:src|href|content)="(/[^"]*)"', shell)
    assert root_absolute
    assert all(path.startswith("/viewer/") for path in root_absolute), root_absolute


def test_app_config_points_at_the_clinics_dicomweb_base(radiologist_client, tenant):
    response = radiologist_client.get(reverse("viewer-config", args=[tenant.slug]))
    config = _config(response)
    (source,) = config["dataSources"]

    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert config["routerBasename"] == "/viewer/t/alpha"
    assert config["defaultDataSourceName"] == source["sourceName"]
    assert source["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    for root in ("qidoRoot", "wadoRoot", "wadoUriRoot"):
        assert source["configuration"][root] == "http://testserver/dicomweb/alpha"
    assert "no-store" in response["Cache-Control"]


def test_each_clinic_gets_its_own_config(client, tenant, other_tenant, member_factory):
    doctor = member_factory(tenant, Role.RADIOLOGIST)
    member_factory(other_tenant, Role.RADIOLOGIST, user=doctor)
    client.force_login(doctor)

    alpha = _config(client.get(reverse("viewer-config", args=[tenant.slug])))
    bravo = _config(client.get(reverse("viewer-config", args=[other_tenant.slug])))

    assert alpha["dataSources"][0]["configuration"]["qidoRoot"].endswith("/dicomweb/alpha")
    assert bravo["dataSources"][0]["configuration"]["qidoRoot"].endswith("/dicomweb/bravo")
    assert bravo["routerBasename"] == "/viewer/t/bravo"


def test_another_clinics_viewer_is_404_like_an_unknown_clinic(radiologist_client, other_tenant):
    for route in ("viewer", "viewer-config"):
        other = radiologist_client.get(reverse(route, args=[other_tenant.slug]))
        missing = radiologist_client.get(reverse(route, args=["no-such-clinic"]))

        assert other.status_code == missing.status_code == 404
        assert other.content.replace(b"bravo", b"") == missing.content.replace(b"no-such-clinic", b"")


def test_viewer_routes_are_cross_origin_isolated(radiologist_client, tenant):
    for url in (
        reverse("viewer", args=[tenant.slug]),
        reverse("viewer-route", args=[tenant.slug, "viewer"]),
        reverse("viewer-config", args=[tenant.slug]),
        _app_bundle_path(radiologist_client, tenant),
        reverse("viewer-home"),
    ):
        response = radiologist_client.get(url)
        for header, value in ISOLATION_HEADERS.items():
            assert response[header] == value, (url, header)


def test_ohif_files_are_served_with_their_types_and_revalidated(radiologist_client, tenant, settings):
    bundle = radiologist_client.get(_app_bundle_path(radiologist_client, tenant))
    wasm_name = next(settings.PALISADE_VIEWER_DIR.glob("*.wasm")).name
    wasm = radiologist_client.get(reverse("viewer-file", args=[wasm_name]))
    again = radiologist_client.get(
        _app_bundle_path(radiologist_client, tenant), headers={"If-Modified-Since": bundle["Last-Modified"]}
    )

    assert bundle.status_code == 200
    assert bundle["Content-Type"] in {"text/javascript", "application/javascript"}
    assert b'__webpack_require__.p = "/viewer/"' in b"".join(bundle.streaming_content)
    assert wasm["Content-Type"] == "application/wasm"
    assert again.status_code == 304


def test_files_outside_the_build_and_the_raw_shell_are_not_served(radiologist_client, settings):
    outside = settings.PALISADE_VIEWER_DIR.parent / f"outside-{uuid.uuid4().hex}.txt"
    outside.write_text("not the viewer's")
    try:
        for path in ("index.html", "palisade-viewer.json", "no-such-file.js", f"../{outside.name}"):
            assert radiologist_client.get(f"/viewer/{path}").status_code == 404, path
    finally:
        outside.unlink()


def test_a_member_of_one_clinic_goes_from_viewer_to_its_clinics_viewer(radiologist_client, tenant):
    response = radiologist_client.get(reverse("viewer-home"))

    assert response.status_code == 302
    assert response["Location"] == reverse("viewer", args=[tenant.slug])


def test_the_study_list_links_to_the_viewer_for_those_who_may_view_the_study(client, tenant, member_factory):
    study = StudyFactory(tenant=tenant)
    link = (
        reverse("viewer-route", args=[tenant.slug, "viewer"])
        + f"?StudyInstanceUIDs={study.study_instance_uid}"
    )
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    radiologist_page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()
    client.force_login(member_factory(tenant, Role.BILLING))
    billing_page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert f'href="{link}"' in radiologist_page
    assert "Open in viewer" not in billing_page


def test_a_server_without_the_viewer_says_so(radiologist_client, tenant, settings, tmp_path):
    settings.PALISADE_VIEWER_DIR = tmp_path / "viewer"

    shell = radiologist_client.get(reverse("viewer", args=[tenant.slug]))
    bundle = radiologist_client.get(reverse("viewer-file", args=["app.bundle.css"]))

    assert shell.status_code == bundle.status_code == 503
    assert shell.content == b"The viewer is not installed on this server."


def test_the_router_base_without_its_slash_leads_to_the_shell(radiologist_client, tenant):
    # OHIF's "next" after signing in again is /viewer/t/alpha?…, without the slash.
    response = radiologist_client.get("/viewer/t/alpha?patientName=Doe")

    assert response.status_code == 301
    assert response["Location"] == "/viewer/t/alpha/?patientName=Doe"

"""Installing OHIF's npm dist/ for /viewer/: integrity, safe extraction, and the path rewriting.

A small tarball laid out like `@ohif/app`'s stands in for the 50 MB one here; the real build is checked by
test_viewer_pages.py and test_viewer_browser.py.
"""

import base64
import hashlib
import io
import json
import tarfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imaging.viewer.install import (
    APP_CONFIG_PLACEHOLDER,
    PINNED,
    Release,
    ViewerInstallError,
    install_viewer,
    installed_release,
)

INDEX_HTML = (
    '<!doctype html><html><head><meta name="msapplication-TileImage" content="/assets/mstile.png">'
    '<script>console.time("scriptToView"),window.PUBLIC_URL="/"</script>'
    '<link rel="manifest" href="/manifest.json"><link rel="icon" href="/assets/favicon.ico">'
    '<link rel="preconnect" href="//fonts.example.org">'
    '<script rel="preload" as="script" src="/app-config.js"></script>'
    '<script>function browserImportFunction(n){return import(n)}window.PUBLIC_URL="/"</script>'
    '<script defer src="/app.bundle.abc123.js"></script><link href="/app.bundle.css" rel="stylesheet">'
    "</head><body><div id=root></div></body></html>"
)
OHIF_LIKE_DIST = {
    "index.html": INDEX_HTML,
    "app.bundle.abc123.js": '(() => { __webpack_require__.p = "/"; })(); loadChunk("12.bundle.js");',
    "histogram-worker.bundle.js": '(() => { __webpack_require__.p = "/"; })();',
    "12.bundle.js": "export const twelve = 12;",
    "app.bundle.css": "@font-face{src:url(/font.woff2)}.x{background:url(//cdn.example.org/a.png)}",
    "manifest.json": json.dumps({"icons": [{"src": "/assets/icon-36.png"}]}),
    "app-config.js": "window.config = {dataSources: [{qidoRoot: 'https://demo.example.org'}]};",
    "assets/favicon.ico": "icon",
}


def _tarball(path, files: dict[str, str], extra: list[tarfile.TarInfo] = ()) -> Release:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in {
            "package/package.json": "{}",
            **{f"package/dist/{k}": v for k, v in files.items()},
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    return Release("@ohif/app", "0.0.0-test", f"sha512-{digest}")


@pytest.fixture
def ohif_like(tmp_path):
    tarball = tmp_path / "ohif-app-0.0.0-test.tgz"
    return tarball, _tarball(tarball, OHIF_LIKE_DIST)


def test_index_html_is_moved_under_viewer_and_names_the_config_placeholder(tmp_path, ohif_like):
    tarball, release = ohif_like

    install_viewer(tmp_path / "viewer", release, tarball=tarball)
    index = (tmp_path / "viewer" / "index.html").read_text()

    assert index.count('window.PUBLIC_URL="/viewer/"') == 2
    assert f'src="{APP_CONFIG_PLACEHOLDER}"' in index
    assert 'content="/viewer/assets/mstile.png"' in index
    assert 'href="/viewer/manifest.json"' in index
    assert 'src="/viewer/app.bundle.abc123.js"' in index
    assert 'href="/viewer/app.bundle.css"' in index
    assert 'href="//fonts.example.org"' in index


def test_bundles_load_their_chunks_and_fonts_from_viewer(tmp_path, ohif_like):
    tarball, release = ohif_like

    install_viewer(tmp_path / "viewer", release, tarball=tarball)
    build = tmp_path / "viewer"

    for bundle in ("app.bundle.abc123.js", "histogram-worker.bundle.js"):
        assert '__webpack_require__.p = "/viewer/"' in (build / bundle).read_text()
    assert (build / "12.bundle.js").read_text() == OHIF_LIKE_DIST["12.bundle.js"]
    css = (build / "app.bundle.css").read_text()
    assert "url(/viewer/font.woff2)" in css and "url(//cdn.example.org/a.png)" in css
    assert (
        json.loads((build / "manifest.json").read_text())["icons"][0]["src"] == "/viewer/assets/icon-36.png"
    )


def test_the_stock_config_pointing_at_ohifs_demo_server_is_removed(tmp_path, ohif_like):
    tarball, release = ohif_like

    install_viewer(tmp_path / "viewer", release, tarball=tarball)

    assert not (tmp_path / "viewer" / "app-config.js").exists()
    assert (tmp_path / "viewer" / "assets" / "favicon.ico").read_text() == "icon"
    assert not (tmp_path / "viewer" / "package.json").exists()


def test_an_installed_release_is_not_installed_again(tmp_path, ohif_like):
    tarball, release = ohif_like

    first = install_viewer(tmp_path / "viewer", release, tarball=tarball)
    second = install_viewer(tmp_path / "viewer", release, tarball=tmp_path / "never-read.tgz")

    assert (first, second) == (True, False)
    assert installed_release(tmp_path / "viewer") == release


def test_another_release_replaces_the_installed_one_whole(tmp_path, ohif_like):
    tarball, release = ohif_like
    install_viewer(tmp_path / "viewer", release, tarball=tarball)
    (tmp_path / "viewer" / "left-over.js").write_text("from the previous release")
    newer_tarball = tmp_path / "ohif-app-0.0.1-test.tgz"
    newer = _tarball(newer_tarball, OHIF_LIKE_DIST)

    install_viewer(
        tmp_path / "viewer", Release(newer.package, "0.0.1-test", newer.integrity), tarball=newer_tarball
    )

    assert installed_release(tmp_path / "viewer").version == "0.0.1-test"
    assert not (tmp_path / "viewer" / "left-over.js").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".viewer-")] == []


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path, ohif_like):
    tarball, release = ohif_like
    tampered = Release(release.package, release.version, "sha512-" + base64.b64encode(b"0" * 64).decode())

    with pytest.raises(ViewerInstallError, match="not the pinned sha512-"):
        install_viewer(tmp_path / "viewer", tampered, tarball=tarball)

    assert not (tmp_path / "viewer").exists()


@pytest.mark.parametrize(
    "entry",
    [
        ("package/dist/../../escape.js", tarfile.REGTYPE),
        ("package/dist/assets/link", tarfile.SYMTYPE),
    ],
    ids=["parent-path", "symlink"],
)
def test_entries_that_would_leave_the_build_are_refused(tmp_path, entry):
    name, kind = entry
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
    info.size = 1 if kind == tarfile.REGTYPE else 0
    tarball = tmp_path / "hostile.tgz"
    release = _tarball(tarball, OHIF_LIKE_DIST, extra=[info])

    with pytest.raises(ViewerInstallError, match="refusing entry"):
        install_viewer(tmp_path / "viewer", release, tarball=tarball)

    assert not (tmp_path / "escape.js").exists()
    assert not (tmp_path / "viewer").exists()


def test_a_build_whose_chunks_would_still_load_from_the_root_is_refused(tmp_path):
    tarball = tmp_path / "other-layout.tgz"
    release = _tarball(tarball, {**OHIF_LIKE_DIST, "app.bundle.abc123.js": 'r.p="/";'})

    with pytest.raises(ViewerInstallError, match="laid out differently"):
        install_viewer(tmp_path / "viewer", release, tarball=tarball)


def test_the_command_says_in_one_line_that_npm_is_missing(tmp_path, settings, monkeypatch):
    settings.PALISADE_VIEWER_DIR = tmp_path / "viewer"
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(CommandError, match=r"^npm is not installed: install Node\.js") as failure:
        call_command("install_viewer")

    assert "\n" not in str(failure.value)


def test_force_installs_the_same_release_again(tmp_path, ohif_like):
    tarball, release = ohif_like
    install_viewer(tmp_path / "viewer", release, tarball=tarball)
    (tmp_path / "viewer" / "left-over.js").write_text("edited by hand")

    assert install_viewer(tmp_path / "viewer", release, tarball=tarball, force=True) is True
    assert not (tmp_path / "viewer" / "left-over.js").exists()


def test_an_npm_failure_is_reported_with_npms_own_reason(tmp_path, settings, monkeypatch):
    # A stand-in for npm answering as it does when the registry cannot be reached.
    npm = tmp_path / "bin" / "npm"
    npm.parent.mkdir()
    npm.write_text(
        "#!/bin/sh\n"
        'echo \'{"error": {"code": "ECONNREFUSED", "summary": "request to the registry failed"}}\'\n'
        "exit 1\n"
    )
    npm.chmod(0o755)
    settings.PALISADE_VIEWER_DIR = tmp_path / "viewer"
    monkeypatch.setenv("PATH", str(npm.parent))

    with pytest.raises(CommandError) as failure:
        call_command("install_viewer")

    assert str(failure.value) == (
        f"npm pack {PINNED.spec} failed (exit 1): ECONNREFUSED: request to the registry failed"
    )
    assert not (tmp_path / "viewer").exists()

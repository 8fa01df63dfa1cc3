"""Install OHIF's prebuilt dist/ from the npm registry, rewritten to be served at /viewer/.

OHIF's npm dist/ is built for PUBLIC_URL "/": index.html names /app.bundle.….js, /assets/… and
/app-config.js, its CSS names fonts as url(/….woff2), and webpack's runtime in each entry bundle loads
every other chunk, worker and WebAssembly module from "/" (`__webpack_require__.p = "/"`). Served at
/viewer/, those paths are rewritten once here, at install time, rather than on every request. The stock
app-config.js (which points at OHIF's public demo server) is removed: each clinic's configuration is
served by imaging.viewer.views instead.

Only the package's own tarball is fetched (`npm pack`), never its dependency tree: dist/ is
self-contained, and the registry does not carry every @ohif package the tree would need.
"""

import base64
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from imaging.viewer.release import OHIF_INTEGRITY, OHIF_PACKAGE, OHIF_VERSION

PREFIX = "/viewer/"
# index.html names the clinic's configuration through this placeholder; the shell view fills it in.
APP_CONFIG_PLACEHOLDER = "__PALISADE_APP_CONFIG_URL__"
MARKER = "palisade-viewer.json"
WEBPACK_PUBLIC_PATH = b'__webpack_require__.p = "/"'
PREFIXED_PUBLIC_PATH = b'__webpack_require__.p = "' + PREFIX.encode() + b'"'
_NPM_TIMEOUT_SECONDS = 900


class ViewerInstallError(Exception):
    """The viewer could not be installed; the message says which step failed and why."""


@dataclass(frozen=True)
class Release:
    package: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


PINNED = Release(OHIF_PACKAGE, OHIF_VERSION, OHIF_INTEGRITY)


def installed_release(viewer_dir: Path) -> Release | None:
    """The release installed in `viewer_dir`, or None when nothing (complete) is installed there."""
    try:
        return Release(**json.loads((viewer_dir / MARKER).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def install_viewer(
    viewer_dir: Path,
    release: Release = PINNED,
    *,
    force: bool = False,
    npm: str = "npm",
    tarball: Path | None = None,
) -> bool:
    """Install `release` into `viewer_dir` unless it is there already (or `force`); True if installed.

    The new build is prepared beside `viewer_dir` and moved into place whole, so a running portal
    never serves half a viewer. `tarball` skips the download (an offline copy of the npm tarball).
    """
    viewer_dir = viewer_dir.resolve()
    viewer_dir.parent.mkdir(parents=True, exist_ok=True)
    with (viewer_dir.parent / f".{viewer_dir.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two `make test` in one checkout install once
        if not force and installed_release(viewer_dir) == release:
            return False
        with tempfile.TemporaryDirectory(prefix=f".{viewer_dir.name}-", dir=viewer_dir.parent) as work:
            work_dir = Path(work)
            if tarball is None:
                tarball = download_tarball(release, work_dir, npm)
            check_integrity(tarball, release.integrity)
            build = work_dir / "build"
            extract_dist(tarball, build)
            prepare_for_prefix(build)
            (build / MARKER).write_text(json.dumps(asdict(release), indent=2) + "\n")
            _move_into_place(build, viewer_dir)
    return True


def download_tarball(release: Release, dest: Path, npm: str = "npm") -> Path:
    """The package's tarball, fetched by npm's own client (its registry, proxy and cache settings)."""
    executable = shutil.which(npm)
    if executable is None:
        raise ViewerInstallError(
            f"npm is not installed: install Node.js with npm to download {release.spec} (docs/viewer.md)."
        )
    try:
        completed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            [executable, "pack", release.spec, "--pack-destination", str(dest), "--json", "--ignore-scripts"],
            # Away from any project's package.json or .npmrc: only the user's and global npm settings apply.
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ViewerInstallError(
            f"npm pack {release.spec} did not finish in {_NPM_TIMEOUT_SECONDS} s."
        ) from None
    if completed.returncode != 0:
        raise ViewerInstallError(
            f"npm pack {release.spec} failed (exit {completed.returncode}): {_npm_failure(completed)}"
        )
    try:
        filename = json.loads(completed.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        raise ViewerInstallError(f"npm pack {release.spec} printed no tarball name.") from None
    return dest / filename


def _npm_failure(completed: subprocess.CompletedProcess) -> str:
    """npm's one-line reason: with --json it prints {"error": {"code", "summary"}} on stdout."""
    try:
        error = json.loads(completed.stdout)["error"]
        return f"{error['code']}: {error['summary']}"
    except (ValueError, LookupError, TypeError):
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        return lines[0] if lines else "no message"


def check_integrity(tarball: Path, integrity: str) -> None:
    """Refuse a tarball whose digest is not the pinned Subresource-Integrity-style value."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm)
    with tarball.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        raise ViewerInstallError(
            f"{tarball.name} has integrity {algorithm}-{actual}, not the pinned {integrity}."
        )


def extract_dist(tarball: Path, build: Path) -> None:
    """Extract package/dist/ alone into `build`, refusing links and paths that would leave it."""
    build.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            path = PurePosixPath(member.name)
            if path.parts[:2] != ("package", "dist") or member.isdir():
                continue
            relative = PurePosixPath(*path.parts[2:])
            if not member.isfile() or not relative.parts or ".." in relative.parts:
                raise ViewerInstallError(f"{tarball.name}: refusing entry {member.name!r}.")
            target = build.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                raise ViewerInstallError(f"{tarball.name}: cannot read entry {member.name!r}.")
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
    if not (build / "index.html").is_file():
        raise ViewerInstallError(f"{tarball.name} has no dist/index.html: not a prebuilt OHIF app.")


def prepare_for_prefix(build: Path) -> None:
    """Rewrite a dist/ built for "/" so that it works at PREFIX (see the module docstring)."""
    index = build / "index.html"
    html = rewrite_index_html(index.read_text(encoding="utf-8"))
    index.write_text(html, encoding="utf-8")
    rewritten = set()
    for script in build.rglob("*.js"):
        content = script.read_bytes()
        if WEBPACK_PUBLIC_PATH in content:
            script.write_bytes(content.replace(WEBPACK_PUBLIC_PATH, PREFIXED_PUBLIC_PATH))
            rewritten.add(script.relative_to(build).as_posix())
    # The entry bundles index.html loads must now load their chunks from PREFIX, whatever the others do.
    entries = set(re.findall(rf'<script[^>]*\ssrc="{PREFIX}([^"]+\.bundle\.[^"]*\.js)"', html))
    if not entries or not entries <= rewritten:
        raise ViewerInstallError(
            f"The entry bundle does not set {WEBPACK_PUBLIC_PATH.decode()}: this OHIF build is laid out "
            "differently, its chunks would load from / instead of /viewer/ (docs/viewer.md, Upgrading OHIF)."
        )
    for stylesheet in build.rglob("*.css"):
        # Fonts are named root-absolute in the CSS (url(/….woff2)); "//host/…" is left alone.
        css = stylesheet.read_text(encoding="utf-8")
        stylesheet.write_text(re.sub(r"url\((['\"]?)/(?!/)", rf"url(\1{PREFIX}", css), encoding="utf-8")
    manifest = build / "manifest.json"
    if manifest.is_file():
        manifest.write_text(manifest.read_text(encoding="utf-8").replace('"/assets/', f'"{PREFIX}assets/'))
    (build / "app-config.js").unlink(missing_ok=True)


def rewrite_index_html(html: str) -> str:
    """Root-absolute src/href/content paths and window.PUBLIC_URL moved under PREFIX; the
    app-config.js script replaced by APP_CONFIG_PLACEHOLDER."""
    html, configs = re.subn(r'src="/app-config\.js"', f'src="{APP_CONFIG_PLACEHOLDER}"', html)
    if configs != 1:
        raise ViewerInstallError(f"index.html loads /app-config.js {configs} times, expected once.")
    html, public_urls = re.subn(
        r"""window\.PUBLIC_URL\s*=\s*(["'])/\1""", f'window.PUBLIC_URL="{PREFIX}"', html
    )
    if public_urls == 0:
        raise ViewerInstallError('index.html does not set window.PUBLIC_URL="/".')
    # "/x" but not "//host/x" (protocol-relative) nor the placeholder.
    return re.sub(r'(\s(?:src|href|content)=")/(?!/)', rf"\1{PREFIX}", html)


def _move_into_place(build: Path, viewer_dir: Path) -> None:
    previous = viewer_dir.with_name(f".{viewer_dir.name}-previous-{uuid.uuid4().hex[:8]}")
    if viewer_dir.exists():
        viewer_dir.rename(previous)
    build.rename(viewer_dir)
    shutil.rmtree(previous, ignore_errors=True)

"""Fuzzing the boundary (THREATS.md: any bytes give an answer, within a time budget, never a crash).

Deterministic for CI: derandomize=True, no example database. Seeds are the small files of the corpus.
"""

import itertools
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imaging.ingest.archives import iter_archive_members
from imaging.ingest.errors import IngestRejected
from imaging.ingest.limits import IngestLimits
from imaging.ingest.parse import ParsedInstance, parse_instance
from tests.ingest.samples import sample_files

pytestmark = pytest.mark.filterwarnings("ignore")

# Small limits, so that a mutated length or dimension exercises the limit paths quickly.
LIMITS = IngestLimits(max_pixel_bytes=64 * 1024**2, max_inflated_bytes=16 * 1024**2, max_sequence_depth=16)
SEEDS = [path.read_bytes() for path in sample_files() if path.stat().st_size <= 40_000]
FUZZ = settings(
    max_examples=200,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_counter = itertools.count()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def check(scratch, data: bytes) -> None:
    path = scratch / f"case-{next(_counter)}.dcm"
    path.write_bytes(data)
    try:
        assert isinstance(parse_instance(path, limits=LIMITS), ParsedInstance)
    except IngestRejected as rejection:
        assert rejection.reason
    finally:
        path.unlink()


@FUZZ
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes(scratch, data):
    check(scratch, data)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_after_a_valid_prefix(scratch, data):
    check(scratch, bytes(128) + b"DICM" + data)


@st.composite
def mutated_samples(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        # Mostly after the preamble, where the parser has something to chew on.
        position = draw(st.integers(132, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        # Overwrite a 4-byte window with a hostile length or tag.
        position = draw(st.integers(132, len(data) - 4))
        data[position : position + 4] = draw(
            st.sampled_from(
                [b"\xff\xff\xff\xff", b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0", b"\x00\x00\x00\x80"]
            )
        )
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@FUZZ
@given(data=mutated_samples())
def test_mutated_samples(scratch, data):
    check(scratch, data)


@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=2048), names=st.lists(st.text(max_size=12), min_size=1, max_size=4))
def test_archives(scratch, data, names):
    """Arbitrary bytes as a ZIP, and ZIPs with arbitrary entry names: members or IngestRejected only."""
    raw = scratch / f"raw-{next(_counter)}.zip"
    raw.write_bytes(data)
    built = scratch / f"built-{next(_counter)}.zip"
    with zipfile.ZipFile(built, "w") as archive:
        for index, name in enumerate(names):
            archive.writestr(zipfile.ZipInfo(name or f"e{index}"), data[:64])
    for zip_path in (raw, built):
        workdir = scratch / f"work-{next(_counter)}"
        workdir.mkdir()
        try:
            for member in iter_archive_members(zip_path, workdir, limits=LIMITS):
                assert member.path.parent == workdir
        except IngestRejected as rejection:
            assert rejection.reason
        assert all(p.parent == workdir for p in workdir.rglob("*"))

"""Any bytes posted to STOW-RS get a 2xx or 4xx answer, never a 5xx (THREATS.md 9 and the fuzz rule).

Deterministic for CI: derandomize=True, no example database. Seeds are small valid samples framed as
proper multipart/related bodies, then cut, flipped and spliced.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dicomweb.stow import BOUNDARY, post, related_body, stow_url
from tests.ingest.samples import sample_files

pytestmark = pytest.mark.filterwarnings("ignore")

SEED_BODIES = [related_body([path.read_bytes()]) for path in sample_files() if path.stat().st_size <= 8_000]
FUZZ = settings(
    max_examples=120,
    deadline=3000,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def answer(client, token: str, body: bytes, content_type: str | None = None) -> int:
    return post(client, stow_url("alpha"), body, content_type=content_type, token=token).status_code


@st.composite
def mutated_bodies(draw) -> bytes:
    body = bytearray(draw(st.sampled_from(SEED_BODIES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(body)))
        operation = draw(st.sampled_from(["flip", "cut", "insert", "boundary"]))
        if operation == "flip" and position < len(body):
            body[position] ^= draw(st.integers(1, 255))
        elif operation == "cut":
            del body[position : position + draw(st.integers(1, 512))]
        elif operation == "insert":
            body[position:position] = draw(st.binary(min_size=1, max_size=64))
        else:
            body[position:position] = draw(st.sampled_from([b"\r\n", b"--", f"\r\n--{BOUNDARY}".encode()]))
    return bytes(body)


@FUZZ
@given(body=st.binary(max_size=4096))
def test_arbitrary_bytes(client, tenant, token, body):
    assert 200 <= answer(client, token, body) < 500


@FUZZ
@given(body=mutated_bodies())
def test_mutated_multipart_bodies(client, tenant, token, body):
    assert 200 <= answer(client, token, body) < 500


@FUZZ
@given(content_type=st.text(max_size=200).filter(lambda text: "\n" not in text and "\r" not in text))
def test_arbitrary_content_types(client, tenant, token, content_type):
    assert 200 <= answer(client, token, related_body([b"x"]), content_type=content_type) < 500


@FUZZ
@given(parameters=st.text(alphabet=st.sampled_from(';="\\ bx/-typeboundary'), max_size=80))
def test_arbitrary_multipart_related_parameters(client, tenant, token, parameters):
    content_type = f"multipart/related{parameters}"
    assert 200 <= answer(client, token, related_body([b"x"]), content_type=content_type) < 500

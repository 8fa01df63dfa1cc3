"""The embedded default's file broker delivers every message whole while a worker polls the folder."""

import threading
import time
from queue import Empty

import pytest
from kombu import Connection

MESSAGES = 2000


@pytest.fixture
def broker_folder(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    return folder


def _channel(folder):
    connection = Connection(
        "filesystem://",
        transport="portal.broker:Transport",
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder)},
    )
    return connection, connection.default_channel


def test_a_polling_reader_never_sees_a_message_half_written(broker_folder):
    producer_connection, producer = _channel(broker_folder)
    consumer_connection, consumer = _channel(broker_folder)
    received: list[dict] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def consume() -> None:
        # Polls as fast as it can, as a worker does with a short polling interval: each poll lands
        # somewhere in the middle of the producer's writes.
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            try:
                received.append(consumer._get("ingest"))
            except Empty:
                continue
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
                return
        done.set()

    reader = threading.Thread(target=consume)
    reader.start()
    try:
        for number in range(MESSAGES):
            producer._put("ingest", {"number": number, "body": "x" * 2000})
        reader.join(timeout=60)
    finally:
        done.set()
        producer_connection.release()
        consumer_connection.release()
    assert errors == []
    assert sorted(message["number"] for message in received) == list(range(MESSAGES))
    assert not [path.name for path in broker_folder.iterdir()]


def test_the_embedded_default_uses_this_transport(settings):
    from portal.celery import app

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("this run uses a broker server (CELERY_BROKER_URL)")
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "portal.broker:Transport"

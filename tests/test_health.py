from django.urls import reverse


def test_healthz_answers_without_a_database(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_checks_the_database_and_the_broker(db, client):
    body = client.get(reverse("readyz")).json()

    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"


def test_readyz_is_unavailable_when_the_broker_is_down(db, client, settings):
    # A port nothing listens on: the broker is really unreachable, nothing is mocked.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"

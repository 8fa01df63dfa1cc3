import json
import os

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User


def person(username: str) -> dict | None:
    with open(os.environ["OIDC_TEST_PEOPLE_FILE"]) as people:
        return json.load(people).get(username)


class PeopleFileBackend(ModelBackend):
    """Signs in the people listed in the tests' file, creating their provider account on first use."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        entry = person(username or "")
        if entry is None or entry["password"] != password:
            return None
        user, _ = User.objects.get_or_create(username=username)
        return user

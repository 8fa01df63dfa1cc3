"""A real OpenID Connect provider for the single sign-on tests: django-oauth-toolkit with OIDC, in its own
process, with its own settings and SQLite database (tests/oidc.py starts it).

Its people are listed in a JSON file the tests write (`OIDC_TEST_PEOPLE_FILE`): each name's password,
the claims its ID token carries, and optionally how to spoil that token ("forge"), so that the tests can
check that Palisade refuses a token with a bad signature, a wrong audience or an old expiry when it
comes from the token endpoint, exactly where a real attack would put it.
"""

import pytest

from imaging.crypto import keys


@pytest.fixture(autouse=True)
def master_key_file(settings, tmp_path):
    """Each test gets its own file master key, and so its own folder of study secrets beside it."""
    settings.PALISADE_KEY_PROVIDER = "file"
    settings.PALISADE_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    keys._unwrap_tenant_key.cache_clear()
    yield settings.PALISADE_MASTER_KEY_FILE
    keys._unwrap_tenant_key.cache_clear()

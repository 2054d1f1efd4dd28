import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fresh_throttle_history():
    # Throttles count in the cache; each test starts with none spent.
    cache.clear()


@pytest.fixture
def api_client():
    return APIClient()

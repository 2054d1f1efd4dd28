"""No input to the own-model pages gives a server error: junk in every field of every form
and query is a message or a 404, and charges nothing."""

import pytest
from django.urls import reverse

from billing.selectors import balance_of
from training.models import TrainingJob

from .test_pages import _confirmed_dataset, customer, customer_client  # noqa: F401

pytestmark = pytest.mark.django_db

JUNK = ["", "abc", "-1", "1e309", "nan", "99999999999999999999", "<script>", "\x00", "ü" * 300]


@pytest.fixture
def dataset(customer):  # noqa: F811
    return _confirmed_dataset(customer)


@pytest.mark.parametrize("junk", JUNK)
def test_junk_everywhere_is_answered_without_a_server_error(
    customer_client,  # noqa: F811
    customer,  # noqa: F811
    dataset,
    junk,
):
    before = balance_of(user=customer)
    requests = [
        ("get", reverse("training:dataset", args=[dataset.pk]), {"part": junk}),
        ("get", reverse("training:parameters", args=[dataset.pk]), {"algorithm": junk}),
        ("get", reverse("training:compare"), {"v": junk}),
        (
            "post",
            reverse("training:revise", args=[dataset.pk]),
            {"task": junk, "type_0": junk, "ignore_0": junk, "name": junk},
        ),
        (
            "post",
            reverse("training:quote", args=[dataset.pk]),
            {"algorithm": junk, "name": junk, "model": junk, "p_alpha": junk},
        ),
        (
            "post",
            reverse("training:quote", args=[dataset.pk]),
            {"algorithm": "ridge", "p_alpha": junk, "model": junk},
        ),
        ("post", reverse("training:train", args=[dataset.pk]), {"quote": junk}),
        ("post", reverse("training:upload"), {"target": junk, "name": junk}),
    ]
    for method, url, data in requests:
        response = getattr(customer_client, method)(url, data)
        assert response.status_code < 500, (url, data, response.status_code)
    assert balance_of(user=customer) == before
    assert not TrainingJob.objects.exists()

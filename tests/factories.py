import factory

from accounts import services as account_services
from accounts.models import User

DEFAULT_PASSWORD = "a-strong-test-password-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class, *args, password: str = DEFAULT_PASSWORD, **kwargs):
        return model_class.objects.create_user(*args, password=password, **kwargs)


def issue_token(user: User, name: str = "test") -> str:
    """A fresh API key for `user`, made through the same service as the tokens page."""
    return account_services.api_token_create(user=user, name=name).key

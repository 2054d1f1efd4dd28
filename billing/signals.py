from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import CreditAccount


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="billing_account_per_user")
def open_credit_account(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """Every user has a credit account from the moment they exist."""
    if created and not raw:
        CreditAccount.objects.get_or_create(user=instance)

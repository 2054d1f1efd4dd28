from django import forms
from django.utils.translation import gettext_lazy as _

from .services import URL_MAX_LENGTH


class WebhookTestForm(forms.Form):
    # The rules of a webhook URL live in services.clean_webhook_url, which the view calls.
    url = forms.CharField(label=_("Webhook URL"), max_length=URL_MAX_LENGTH)

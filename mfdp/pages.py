"""What every app's pages share: redirects that htmx follows, and where a customer short of
credits is sent."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import ngettext
from django_htmx.http import HttpResponseClientRedirect

from billing.services import InsufficientCredits


def redirect_to(request, url: str):
    """A redirect, as htmx needs it for a request it made (the browser goes to `url`)."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def to_billing_for(request, error: InsufficientCredits):
    """To the billing page, saying how many credits are missing."""
    messages.error(
        request,
        ngettext("%(missing)s credit missing.", "%(missing)s credits missing.", error.shortfall)
        % {"missing": error.shortfall},
    )
    return redirect_to(request, reverse("billing:billing"))

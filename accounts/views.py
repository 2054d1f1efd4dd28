from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRefresh

from billing.selectors import balance_of
from mfdp.errors import DomainError
from predictions.models import PredictionJob
from webhooks import selectors as webhook_selectors
from webhooks import services as webhooks
from webhooks.forms import WebhookTestForm
from webhooks.throttles import WebhookTestThrottle

from . import selectors, services
from .forms import ApiTokenForm, SignupForm
from .models import ApiToken
from .throttles import SignupThrottle, throttle_posts


def home(request):
    if request.user.is_authenticated:
        return redirect("accounts:account")
    return render(request, "home.html")


@require_http_methods(["GET", "POST"])
@throttle_posts(SignupThrottle)
def signup(request):
    if request.user.is_authenticated:
        return redirect("accounts:account")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                name=form.cleaned_data["name"],
            )
        except DomainError as error:
            form.add_error("email", error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome to MFDP! Your account is ready."))
            return redirect("accounts:account")
    return render(request, "accounts/signup.html", {"form": form})


@login_required
def account(request):
    context = {
        "active_tokens": selectors.active_token_count(user=request.user),
        "balance": balance_of(user=request.user),
        "recent_jobs": PredictionJob.objects.filter(owner=request.user).select_related(
            "version__model"
        )[:5],
    }
    return render(request, "accounts/account.html", context)


def _get_token_for_user(request, token_id: int) -> ApiToken:
    return get_object_or_404(ApiToken, id=token_id, user=request.user)


def _render_tokens(request, *, form, issued=None, webhook_form=None, status=200):
    template_name = "accounts/tokens.html"
    if request.htmx:
        template_name += "#token-panel"
    if webhook_form is None:
        webhook_form = WebhookTestForm(
            initial={"url": webhook_selectors.last_test_url(user=request.user)}
        )
    context = {
        "form": form,
        "issued": issued,
        "tokens": selectors.api_token_list(user=request.user),
        "webhook_form": webhook_form,
    }
    return render(request, template_name, context, status=status)


@login_required
@never_cache
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def tokens(request):
    if request.method == "GET":
        return _render_tokens(request, form=ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _render_tokens(request, form=form, status=400 if not request.htmx else 200)
    try:
        issued = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
    except DomainError as error:
        form.add_error(None, error.message)
        return _render_tokens(request, form=form, status=400 if not request.htmx else 200)
    # Rendered, not redirected: the key exists only in this response.
    return _render_tokens(request, form=ApiTokenForm(), issued=issued)


@login_required
@never_cache
@require_POST
def token_revoke(request, token_id: int):
    token = _get_token_for_user(request, token_id)
    services.api_token_revoke(token=token)
    if request.htmx:
        return _render_tokens(request, form=ApiTokenForm())
    messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("accounts:tokens")


@login_required
@require_POST
def webhook_secret_rotate(request):
    services.webhook_secret_rotate(user=request.user)
    messages.success(
        request, _("A new webhook signing secret is in force; the old one no longer verifies.")
    )
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect("accounts:tokens")


@login_required
@never_cache
@require_POST
def webhook_test(request):
    """Send a signed `test` event to the URL given and show what the receiver answered."""
    form = WebhookTestForm(request.POST)
    event = None
    throttle = WebhookTestThrottle()
    if not throttle.allow_request(request, None):
        minutes = max(1, round((throttle.wait() or 60) / 60))
        form.add_error(
            None, _("Too many attempts. Try again in %(minutes)d min.") % {"minutes": minutes}
        )
    elif form.is_valid():
        try:
            event = webhooks.send_test_event(user=request.user, url=form.cleaned_data["url"])
        except DomainError as error:
            form.add_error("url", error.message)
    attempt = event.attempt_log.last() if event else None
    if request.htmx:
        context = {"webhook_form": form, "test_event": event, "test_attempt": attempt}
        return render(request, "accounts/tokens.html#webhook-test", context)
    if attempt is None:
        return _render_tokens(request, form=ApiTokenForm(), webhook_form=form, status=400)
    if attempt.succeeded:
        messages.success(
            request,
            _("The test event was delivered: your server answered %(status)d.")
            % {"status": attempt.status_code},
        )
    elif attempt.status_code:
        messages.error(
            request,
            _("The test event was not delivered: your server answered %(status)d.")
            % {"status": attempt.status_code},
        )
    else:
        messages.error(
            request,
            _("The test event was not delivered: %(error)s") % {"error": attempt.error},
        )
    return redirect("accounts:tokens")

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from mfdp.errors import DomainError

from . import selectors, services
from .exports import table_download
from .forms import LowBalanceThresholdForm, VoucherRedeemForm
from .throttles import VoucherRedeemThrottle

# The htmx event that tells the balance and the statement on the page to refresh themselves.
CREDITS_CHANGED = "credits-changed"


def _billing_context(
    request, *, voucher_form=None, voucher_entry=None, threshold_form=None, threshold_saved=False
):
    ledger = selectors.statement(user=request.user, params=request.GET)
    entries = ledger.qs if ledger.is_valid() else ledger.queryset.none()
    page = Paginator(entries, settings.STATEMENT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "balance": selectors.balance_of(user=request.user),
        "ledger": ledger,
        "page": page,
        "filter_query": query.urlencode(),
        "voucher_form": voucher_form or VoucherRedeemForm(),
        "voucher_entry": voucher_entry,
        "threshold_form": threshold_form or _threshold_form(request.user),
        "threshold_saved": threshold_saved,
        "demo_topup": settings.DEMO_TOPUP,
        "demo_topup_credits": settings.DEMO_TOPUP_CREDITS,
    }


def _threshold_form(user) -> LowBalanceThresholdForm:
    return LowBalanceThresholdForm(
        initial={"threshold": selectors.low_balance_threshold_of(user=user)}
    )


@login_required
@require_GET
def billing(request):
    template_name = "billing/billing.html"
    if request.htmx and request.htmx.target in ("balance", "statement"):
        template_name += f"#{request.htmx.target}"
    return render(request, template_name, _billing_context(request))


def _credits_changed(request, response):
    if request.htmx:
        response["HX-Trigger"] = CREDITS_CHANGED
    return response


@login_required
@require_POST
def voucher_redeem(request):
    form = VoucherRedeemForm(request.POST)
    entry = None
    throttle = VoucherRedeemThrottle()
    if not throttle.allow_request(request, None):
        minutes = max(1, round((throttle.wait() or 60) / 60))
        form.add_error(
            None,
            _("Too many attempts. Try again in %(minutes)d min.") % {"minutes": minutes},
        )
    elif form.is_valid():
        try:
            entry = services.redeem_voucher(user=request.user, code=form.cleaned_data["code"])
        except DomainError as error:
            form.add_error("code", error.message)
    if not request.htmx:
        if entry:
            messages.success(
                request,
                ngettext(
                    "%(credits)d credit added to your balance.",
                    "%(credits)d credits added to your balance.",
                    entry.amount,
                )
                % {"credits": entry.amount},
            )
            return redirect("billing:billing")
        context = _billing_context(request, voucher_form=form)
        return render(request, "billing/billing.html", context, status=400)
    context = _billing_context(
        request, voucher_form=VoucherRedeemForm() if entry else form, voucher_entry=entry
    )
    response = render(request, "billing/billing.html#voucher", context)
    return _credits_changed(request, response) if entry else response


@login_required
@require_POST
def demo_topup(request):
    try:
        entry = services.demo_topup(user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("billing:billing")
    if request.htmx:
        # The balance and the statement refresh themselves on the event.
        return _credits_changed(request, HttpResponse(status=204))
    messages.success(
        request, _("%(credits)d demo credits added to your balance.") % {"credits": entry.amount}
    )
    return redirect("billing:billing")


@login_required
@require_POST
def low_balance_threshold(request):
    form = LowBalanceThresholdForm(request.POST)
    account = None
    if form.is_valid():
        try:
            account = services.low_balance_threshold_set(
                user=request.user, threshold=form.cleaned_data["threshold"]
            )
        except DomainError as error:
            form.add_error("threshold", error.message)
    if not request.htmx:
        if account is None:
            context = _billing_context(request, threshold_form=form)
            return render(request, "billing/billing.html", context, status=400)
        if account.low_balance_threshold is None:
            messages.success(request, _("Low-balance e-mails are off."))
        else:
            messages.success(
                request,
                _("We will e-mail you when your balance falls below %(threshold)s credits.")
                % {"threshold": account.low_balance_threshold},
            )
        return redirect("billing:billing")
    # htmx swaps only successful responses: the form comes back with its errors as a 200.
    context = _billing_context(
        request,
        threshold_form=_threshold_form(request.user) if account else form,
        threshold_saved=account is not None,
    )
    return render(request, "billing/billing.html#low_balance", context)


@login_required
@require_GET
def statement_export(request, fmt: str):
    ledger = selectors.statement(user=request.user, params=request.GET)
    if not ledger.is_valid():
        messages.error(request, _("Fix the statement's filters first."))
        return redirect("billing:billing")
    rows = (
        (
            entry.created_at,
            str(entry.get_kind_display()),
            entry.amount,
            entry.balance_after,
            entry.memo,
        )
        for entry in ledger.qs.iterator(chunk_size=2000)
    )
    headers = [_("Date"), _("Kind"), _("Credits"), _("Balance after"), _("Memo")]
    return table_download(filename="mfdp-statement", fmt=fmt, headers=headers, rows=rows)

"""Pages: the webhooks and their deliveries (superusers), and a person's mail preference."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from notifications import selectors, services
from notifications.models import Delivery, Webhook
from relman.http import client_ip

DELIVERIES_PER_PAGE = 50


def _superuser(request: HttpRequest) -> None:
    """Webhooks do not exist for anyone else (their URLs can be credentials)."""
    if not request.user.is_superuser:
        raise Http404


@login_required
@require_safe
def webhook_list(request: HttpRequest) -> HttpResponse:
    _superuser(request)
    webhooks = Webhook.objects.prefetch_related("projects", "environments")
    return render(request, "notifications/webhook_list.html", {"title": "Webhooks", "webhooks": webhooks})


@login_required
@require_safe
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The webhook's deliveries, newest first, each with its attempts; Redeliver and Send test."""
    _superuser(request)
    webhook = get_object_or_404(Webhook.objects.prefetch_related("projects", "environments"), pk=pk)
    page = Paginator(selectors.delivery_list(webhook=webhook), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"title": f"Webhook {webhook.name}", "webhook": webhook, "page": page}
    return render(request, "notifications/webhook_detail.html", context)


@login_required
@require_POST
def webhook_send_test(request: HttpRequest, pk: int) -> HttpResponse:
    _superuser(request)
    webhook = get_object_or_404(Webhook, pk=pk)
    services.webhook_send_test(webhook=webhook, actor=request.user, source_ip=client_ip(request))
    messages.success(request, f"A test message is on its way to {webhook.name}; it is listed below.")
    return redirect(webhook)


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    _superuser(request)
    delivery = get_object_or_404(
        Delivery.objects.select_related("event", "webhook"), pk=pk, webhook__isnull=False
    )
    services.delivery_redeliver(delivery=delivery, actor=request.user, source_ip=client_ip(request))
    messages.success(request, f"The {delivery.event.kind} event is being sent again, as a new delivery.")
    return redirect(delivery.webhook)


@login_required
@require_POST
def email_preference(request: HttpRequest) -> HttpResponse:
    """Turns my mails about steps that wait for me on or off (the form on /me/)."""
    enabled = request.POST.get("enabled") == "on"
    services.email_preference_set(
        user=request.user, enabled=enabled, actor=request.user, source_ip=client_ip(request)
    )
    messages.success(
        request,
        "You will be mailed when a step waits for you." if enabled else "You will not be mailed any more.",
    )
    return redirect("me")

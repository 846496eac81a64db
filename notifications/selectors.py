from django.db.models import QuerySet

from notifications.models import Delivery, Webhook


def delivery_list(*, webhook: Webhook) -> QuerySet[Delivery]:
    """The webhook's deliveries, newest first, each with its event and attempts."""
    return (
        Delivery.objects.filter(webhook=webhook)
        .select_related("event")
        .prefetch_related("attempt_rows")
        .order_by("-created_at", "-id")
    )

"""``/metrics``: Prometheus figures computed from the database at each scrape.

Every figure is read from the rows that are the truth, so any web process answers the same
and none has to aggregate what the others counted. A scrape costs a fixed three queries
whatever the history's size, one more for the notifications' deliveries and one for the
targets' agents.

The endpoint is open only with ``Authorization: Bearer $RELMAN_METRICS_TOKEN``; without the
token set, or with a missing or wrong one, it answers 404, as for a page that does not
exist.
"""

import hmac
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from notifications.choices import Channel, DeliveryState
from notifications.models import Delivery
from releases.choices import STEP_FINISHED, DeploymentState
from releases.models import Deployment, DeploymentStep, Interruption
from targets.choices import TargetStatus
from targets.models import Target

# Seconds. Script steps take seconds to minutes; manual steps, minutes to days.
STEP_DURATION_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)


class RelmanCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield self._deployments()
        yield from self._interruptions()
        yield self._step_durations()
        yield self._deliveries()
        yield self._targets()

    def _deployments(self) -> Metric:
        counts = dict(Deployment.objects.order_by().values_list("state").annotate(n=Count("id")))
        family = GaugeMetricFamily("relman_deployments", "Deployments by state.", labels=["state"])
        for state in DeploymentState.values:
            family.add_metric([state], counts.get(state, 0))
        return family

    def _interruptions(self) -> Iterator[Metric]:
        pending = Interruption.objects.filter(pending=True).aggregate(n=Count("id"), oldest=Min("created_at"))
        yield GaugeMetricFamily(
            "relman_interruptions_pending", "Interruptions waiting for a person.", value=pending["n"]
        )
        age = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
        yield GaugeMetricFamily(
            "relman_interruption_oldest_pending_age_seconds",
            "How long the oldest pending interruption has waited (0 when none waits).",
            value=max(age, 0.0),
        )

    def _step_durations(self) -> Metric:
        """All finished steps ever, by kind, bucketed by the database in one query: a
        histogram's counts must only grow, so the history is not cut to a window."""
        duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        buckets = {
            f"le_{bound}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
            for bound in STEP_DURATION_BUCKETS
        }
        rows = (
            DeploymentStep.objects.filter(
                state__in=STEP_FINISHED, started_at__isnull=False, finished_at__isnull=False
            )
            .annotate(duration=duration)
            .values("release_step__kind")
            .annotate(total=Count("id"), seconds=Sum("duration"), **buckets)
            .order_by("release_step__kind")
        )
        family = HistogramMetricFamily(
            "relman_step_duration_seconds",
            "Time from a step's start to its end, for finished steps (manual steps include the wait for a person).",
            labels=["kind"],
        )
        for row in rows:
            family.add_metric(
                [row["release_step__kind"]],
                buckets=[(str(float(bound)), row[f"le_{bound}"]) for bound in STEP_DURATION_BUCKETS]
                + [("+Inf", row["total"])],
                sum_value=_seconds(row["seconds"]),
            )
        return family

    def _deliveries(self) -> Metric:
        """Mails and webhook calls by outcome: a growing ``failed`` count is a receiver
        (or the SMTP server) that has been refusing for hours."""
        counts = {
            (row["channel"], row["state"]): row["n"]
            for row in Delivery.objects.order_by().values("channel", "state").annotate(n=Count("id"))
        }
        family = GaugeMetricFamily(
            "relman_notification_deliveries",
            "Notification deliveries by channel and outcome.",
            labels=["channel", "state"],
        )
        for channel in Channel.values:
            for state in DeliveryState.values:
                family.add_metric([channel, state], counts.get((channel, state), 0))
        return family

    def _targets(self) -> Metric:
        """Enabled targets by their agent's status: an offline target is one whose script
        steps will fail naming it once their timeout passes."""
        seen_since = timezone.now() - timedelta(seconds=settings.RELMAN_AGENT_OFFLINE_AFTER_SECONDS)
        counts = Target.objects.filter(enabled=True).aggregate(
            online=Count("id", filter=Q(last_seen__gte=seen_since)),
            offline=Count("id", filter=Q(last_seen__lt=seen_since) | Q(last_seen__isnull=True)),
        )
        family = GaugeMetricFamily(
            "relman_targets", "Enabled targets by their agent's status.", labels=["status"]
        )
        for status in TargetStatus.values:
            family.add_metric([status], counts[status])
        return family


def _seconds(value: timedelta | int | None) -> float:
    """A summed duration: a timedelta, or microseconds where the database has no interval type."""
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value / 1_000_000


_registry = CollectorRegistry(auto_describe=False)
_registry.register(RelmanCollector())


def _authorized(request: HttpRequest) -> bool:
    token = settings.RELMAN_METRICS_TOKEN
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@login_not_required
@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        raise Http404
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)

"""The evidence report of a release (SPEC §5): every deployment of it, every step, and for
each intervention who took it (take-overs and overrides included), who submitted it, the
answer, the notes and the times, each tied to its sealed audit event. A page made to be
printed, and the same as JSON (``?format=json``).

Whoever may see the release may read its report, with the deployments they may see (an
auditor's role includes viewing): the page shows nothing the deployment pages do not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from releases.models import Deployment, DeploymentStep, Interruption, Release
from teams.models import AuditEvent, User

# The audit actions that record who held an intervention.
TAKE_ACTIONS = ("interruption.taken", "interruption.overridden")


@dataclass
class InterventionEvidence:
    interruption: Interruption
    takes: list[AuditEvent] = field(default_factory=list)
    submission: AuditEvent | None = None


@dataclass
class StepEvidence:
    step: DeploymentStep
    interventions: list[InterventionEvidence] = field(default_factory=list)


@dataclass
class DeploymentEvidence:
    deployment: Deployment
    steps: list[StepEvidence] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)


@dataclass
class Evidence:
    release: Release
    release_events: list[AuditEvent]
    deployments: list[DeploymentEvidence]
    generated_at: datetime
    generated_by: User
    events_total: int
    events_sealed: int


def release_evidence_get(*, release: Release, user: User) -> Evidence:
    """Everything the report shows, in a constant number of queries."""
    deployments = list(
        Deployment.objects.visible_to(user)
        .filter(release=release)
        .select_related("environment", "created_by")
        .prefetch_related(
            Prefetch("steps", DeploymentStep.objects.select_related("release_step").order_by("position")),
            Prefetch(
                "interruptions",
                Interruption.objects.select_related("assignee", "submitted_by")
                .prefetch_related("responsible_teams")
                .order_by("created_at", "id"),
            ),
        )
        .order_by("created_at", "id")
    )
    interruption_ids = [str(i.pk) for d in deployments for i in d.interruptions.all()]
    subjects = (
        Q(subject_type="releases.release", subject_id=str(release.pk))
        | Q(subject_type="releases.deployment", subject_id__in=[str(d.pk) for d in deployments])
        | Q(subject_type="releases.interruption", subject_id__in=interruption_ids)
    )
    events = list(AuditEvent.objects.filter(subjects).select_related("actor").order_by("id"))
    by_subject: dict[tuple[str, str], list[AuditEvent]] = defaultdict(list)
    for event in events:
        by_subject[(event.subject_type, event.subject_id)].append(event)

    report = []
    for deployment in deployments:
        by_step: dict[int, list[Interruption]] = defaultdict(list)
        for interruption in deployment.interruptions.all():
            by_step[interruption.step_id].append(interruption)
        steps = []
        for step in deployment.steps.all():
            interventions = []
            for interruption in by_step[step.pk]:
                history = by_subject[("releases.interruption", str(interruption.pk))]
                submissions = [e for e in history if e.action == "interruption.submitted"]
                interventions.append(
                    InterventionEvidence(
                        interruption=interruption,
                        takes=[e for e in history if e.action in TAKE_ACTIONS],
                        submission=submissions[-1] if submissions else None,
                    )
                )
            steps.append(StepEvidence(step=step, interventions=interventions))
        report.append(
            DeploymentEvidence(
                deployment=deployment,
                steps=steps,
                events=by_subject[("releases.deployment", str(deployment.pk))],
            )
        )
    return Evidence(
        release=release,
        release_events=by_subject[("releases.release", str(release.pk))],
        deployments=report,
        generated_at=timezone.now(),
        generated_by=user,
        events_total=len(events),
        events_sealed=sum(1 for e in events if e.hash),
    )


@login_required
@require_GET
def release_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_object_or_404(
        Release.objects.visible_to(request.user).select_related("project", "created_by"), pk=pk
    )
    evidence = release_evidence_get(release=release, user=request.user)
    if request.GET.get("format") == "json":
        return JsonResponse(evidence_json(evidence), json_dumps_params={"indent": 2, "ensure_ascii": False})
    title = f"Evidence: {release.project} {release.version}"
    return render(request, "releases/evidence.html", {"title": title, "evidence": evidence})


# --- JSON -----------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _user(user: User | None) -> dict[str, str] | None:
    return {"username": user.username, "name": user.label} if user else None


def _event(event: AuditEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {
        "id": event.pk,
        "sequence": event.sequence,
        "hash": event.hash or None,
        "action": event.action,
        "actor": event.actor_label,
        "timestamp": _time(event.timestamp),
        "source_ip": event.source_ip,
        "changes": event.changes,
    }


def _intervention(evidence: InterventionEvidence) -> dict[str, Any]:
    interruption = evidence.interruption
    return {
        "id": interruption.pk,
        "type": interruption.type,
        "title": interruption.title,
        "instructions": interruption.instructions,
        "responsible_teams": [team.name for team in interruption.responsible_teams.all()],
        "prevent_self_approval": interruption.prevent_self_approval,
        "created_at": _time(interruption.created_at),
        "pending": interruption.pending,
        "taken": [
            {
                "by": event.actor_label,
                "at": _time(event.timestamp),
                "from": (event.changes.get("assignee") or [None])[0],
                "override_reason": event.changes.get("reason"),
                "audit_event": _event(event),
            }
            for event in evidence.takes
        ],
        "assignee": _user(interruption.assignee),
        "taken_at": _time(interruption.taken_at),
        "submitted_by": _user(interruption.submitted_by),
        "submitted_at": _time(interruption.submitted_at),
        "result": interruption.result or None,
        "guidance": interruption.guidance or None,
        "notes": interruption.notes,
        "submission_audit_event": _event(evidence.submission),
    }


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    release = evidence.release
    return {
        "release": {
            "id": release.pk,
            "project": release.project.slug,
            "project_name": release.project.name,
            "version": release.version,
            "notes": release.notes,
            "created_by": _user(release.created_by),
            "created_at": _time(release.created_at),
            "audit_events": [_event(e) for e in evidence.release_events],
        },
        "generated_at": _time(evidence.generated_at),
        "generated_by": evidence.generated_by.username,
        "deployments": [
            {
                "id": item.deployment.pk,
                "environment": item.deployment.environment.slug,
                "environment_name": item.deployment.environment.name,
                "state": item.deployment.state,
                "guided_failure": item.deployment.guided_failure,
                "created_by": _user(item.deployment.created_by),
                "created_at": _time(item.deployment.created_at),
                "started_at": _time(item.deployment.started_at),
                "finished_at": _time(item.deployment.finished_at),
                "audit_events": [_event(e) for e in item.events],
                "steps": [
                    {
                        "position": s.step.position,
                        "name": s.step.name,
                        "kind": s.step.kind,
                        "state": s.step.state,
                        "skip_reason": s.step.skip_reason,
                        "started_at": _time(s.step.started_at),
                        "finished_at": _time(s.step.finished_at),
                        "exit_code": s.step.exit_code,
                        "attempts": s.step.attempts,
                        "interventions": [_intervention(i) for i in s.interventions],
                    }
                    for s in item.steps
                ],
            }
            for item in evidence.deployments
        ],
        "audit": {"events": evidence.events_total, "sealed": evidence.events_sealed},
    }

"""Lifecycle progression rules (SPEC §1.2): which environments a release may be deployed
to now, and why not. Pure functions over a lifecycle's phases and the environments a
release has reached, so every caller (the deploy service, the release page, the API, the
engine's automatic deployments) applies the same rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifecycles.choices import PhaseRule
from lifecycles.models import Environment, Lifecycle, Phase


@dataclass
class EnvironmentProgress:
    environment: Environment
    automatic: bool
    succeeded: bool
    reached: bool
    can_deploy: bool = False
    reason: str = ""


@dataclass
class PhaseProgress:
    phase: Phase
    complete: bool
    environments: list[EnvironmentProgress] = field(default_factory=list)

    @property
    def missing(self) -> list[Environment]:
        return [e.environment for e in self.environments if not e.succeeded]


def lifecycle_phases(lifecycle_id: int) -> list[Phase]:
    """The lifecycle's phases with their environments, in order, read in two queries."""
    return list(
        Phase.objects.filter(lifecycle_id=lifecycle_id)
        .order_by("position", "id")
        .prefetch_related("phase_environments__environment")
    )


def phase_complete(phase: Phase, succeeded_ids: set[int]) -> bool:
    """Rule 2: optional; or every environment succeeded (all); or at least N did (minimum)."""
    if phase.rule == PhaseRule.OPTIONAL:
        return True
    env_ids = [pe.environment_id for pe in phase.phase_environments.all()]
    done = sum(1 for pk in env_ids if pk in succeeded_ids)
    if phase.rule == PhaseRule.MINIMUM:
        return done >= min(phase.minimum or 1, len(env_ids))
    return done == len(env_ids)


def evaluate(
    *,
    phases: list[Phase],
    succeeded_ids: set[int],
    reached_ids: set[int],
    subject: str,
) -> list[PhaseProgress]:
    """Every phase and environment with whether ``subject`` (e.g. "Release 1.0.0 of
    Manual Deployment") may be deployed there now, and if not, why (rules 3 and 6)."""
    progress: list[PhaseProgress] = []
    blocking: PhaseProgress | None = None
    for phase in phases:
        entry = PhaseProgress(phase=phase, complete=phase_complete(phase, succeeded_ids))
        for pe in phase.phase_environments.all():
            env = EnvironmentProgress(
                environment=pe.environment,
                automatic=pe.automatic,
                succeeded=pe.environment_id in succeeded_ids,
                reached=pe.environment_id in reached_ids,
            )
            if blocking is None or env.reached:
                env.can_deploy = True
            else:
                env.reason = _must_first(subject, blocking)
            entry.environments.append(env)
        progress.append(entry)
        if blocking is None and not entry.complete:
            blocking = entry
    return progress


def deploy_refusal(
    *, progress: list[PhaseProgress], environment: Environment, lifecycle: Lifecycle, subject: str
) -> str | None:
    """Why ``subject`` may not be deployed to ``environment`` now (rules 1, 3, 6), or None."""
    for phase in progress:
        for env in phase.environments:
            if env.environment.pk == environment.pk:
                return None if env.can_deploy else env.reason
    return f"{environment} is not part of the lifecycle {lifecycle}, so {subject} cannot be deployed there."


def automatic_targets(progress: list[PhaseProgress]) -> list[Environment]:
    """Rule 4: automatic environments that are open now and not yet reached."""
    return [
        env.environment
        for phase in progress
        for env in phase.environments
        if env.automatic and env.can_deploy and not env.reached
    ]


def _must_first(subject: str, phase: PhaseProgress) -> str:
    missing = [str(e) for e in phase.missing]
    if phase.phase.rule == PhaseRule.MINIMUM:
        done = len(phase.environments) - len(missing)
        # As in phase_complete: a minimum above the phase's size asks for all of them.
        need = min(phase.phase.minimum or 1, len(phase.environments)) - done
        where = f"{need} more of {_join(missing, 'or')}"
    else:
        where = _join(missing)
    return f"{subject} must first be deployed to {where} (phase {phase.phase.name})."


def _join(names: list[str], last: str = "and") -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {last} " + names[-1]

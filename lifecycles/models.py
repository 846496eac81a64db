from django.db import models

from lifecycles.choices import PhaseRule


class Environment(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Lifecycle(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Phase(models.Model):
    lifecycle = models.ForeignKey(Lifecycle, on_delete=models.CASCADE, related_name="phases")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    rule = models.CharField(max_length=16, choices=PhaseRule.choices, default=PhaseRule.ALL)
    minimum = models.PositiveIntegerField(
        null=True, blank=True, help_text="With the 'minimum' rule: how many environments must succeed."
    )
    environments = models.ManyToManyField(Environment, through="PhaseEnvironment", related_name="phases")

    class Meta:
        ordering = ["lifecycle", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lifecycle", "name"], name="phase_name_unique_in_lifecycle"),
            models.CheckConstraint(
                condition=~models.Q(rule=PhaseRule.MINIMUM) | models.Q(minimum__gte=1),
                name="phase_minimum_rule_needs_minimum",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lifecycle}: {self.name}"


class PhaseEnvironment(models.Model):
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="phase_environments")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="+")
    automatic = models.BooleanField(
        default=False, help_text="Deploy automatically when the previous phase completes."
    )

    class Meta:
        ordering = ["environment__sort_order", "environment__name"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "environment"], name="phase_environment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.environment} ({'automatic' if self.automatic else 'manual'})"

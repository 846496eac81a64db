"""What every channel implements: send one delivery, say how it went. A channel never
retries, locks or records anything: ``notifications.outbox`` does, the same way for all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notifications.models import Delivery


@dataclass(frozen=True)
class Result:
    succeeded: bool
    status_code: int | None = None
    error: str = ""
    response: str = ""


class Transport:
    """Sends one delivery of its channel within RELMAN_NOTIFICATION_TIMEOUT_SECONDS.
    ``send`` returns a failed ``Result`` for anything the receiver or the network did
    wrong, so that it is kept as an attempt and retried."""

    def __init__(self, delivery: Delivery):
        self.delivery = delivery
        self.event = delivery.event

    def send(self) -> Result:
        raise NotImplementedError

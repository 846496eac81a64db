"""Mail through Django's email machinery: RELMAN_EMAIL_URL's SMTP server, or the console
in debug mode. One message per delivery (one person or address), plain text and HTML."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from notifications.channels.base import Result, Transport
from notifications.choices import EventKind
from notifications.models import Event

SUBJECT = "A manual task requires your attention: {step} — {project} {release} to {environment}"


def subject(event: Event) -> str:
    text = SUBJECT.format(**event.payload)
    if event.kind == EventKind.INTERRUPTION_REMINDER:
        return f"Reminder: {text}"
    return text


def message(event: Event, address: str) -> EmailMultiAlternatives:
    context = {
        "event": event,
        "payload": event.payload,
        "reminder": event.kind == EventKind.INTERRUPTION_REMINDER,
    }
    mail = EmailMultiAlternatives(
        subject=subject(event),
        body=render_to_string("notifications/email/interruption.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
    )
    mail.attach_alternative(render_to_string("notifications/email/interruption.html", context), "text/html")
    return mail


class EmailTransport(Transport):
    def send(self) -> Result:
        mail = message(self.event, self.delivery.address)
        try:
            with get_connection(timeout=settings.RELMAN_NOTIFICATION_TIMEOUT_SECONDS) as connection:
                connection.send_messages([mail])
        except (OSError, smtplib.SMTPException) as exc:
            return Result(succeeded=False, error=f"{type(exc).__name__}: {exc}"[:1000])
        return Result(succeeded=True)

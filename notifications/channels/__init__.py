"""One folder per channel, each a ``Transport`` (``channels.base``): a new channel is a
folder and a line here."""

from notifications.channels.base import Transport
from notifications.channels.email.transport import EmailTransport
from notifications.channels.webhook.transport import WebhookTransport
from notifications.choices import Channel

TRANSPORTS: dict[str, type[Transport]] = {
    Channel.EMAIL: EmailTransport,
    Channel.WEBHOOK: WebhookTransport,
}

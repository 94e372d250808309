from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "feedback.outbound"
    label = "outbound"
    verbose_name = "Outbound webhooks and CRM sync"

from django.apps import AppConfig


class PlsPortalConfig(AppConfig):
    name = "pls_portal"
    verbose_name = "PLS Portal"

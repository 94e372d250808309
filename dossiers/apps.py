from django.apps import AppConfig


class DossiersConfig(AppConfig):
    name = "dossiers"

    def ready(self) -> None:
        from dossiers.dossier.cache import cache_watch

        cache_watch()

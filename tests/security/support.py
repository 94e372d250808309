"""Helpers of the security suite: the project's URL patterns and a picture of the
database, to prove that a refused request changed nothing."""

from django.apps import apps
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

# Sessions change with every login; everything else a request could write is compared.
NOT_COMPARED = {"sessions"}


def url_patterns(resolver=None, namespace: str = "", prefix: str = ""):
    """(url name, pattern, route prefix) of every named URL, Django admin's included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, ns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry, prefix


def project_patterns():
    """(url name, pattern) of the project's own URLs (Django admin left out)."""
    return [(name, pattern) for name, pattern, _ in url_patterns() if not name.startswith("admin:")]


def id_args(pattern) -> list[str]:
    """The URL's arguments (object ids: every project URL argument is an ``<int:…_id>``)."""
    return list(pattern.pattern.regex.groupindex)


def db_state() -> dict[str, list[tuple]]:
    """Every row of every table the project (and Django's auth, admin log and django-axes)
    keeps, by table: one plain query each, as this runs around every refused request."""
    state = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            meta = model._meta
            if meta.proxy or meta.app_label in NOT_COMPARED:
                continue
            table, pk = connection.ops.quote_name(meta.db_table), meta.pk.column
            cursor.execute(f"SELECT * FROM {table} ORDER BY {connection.ops.quote_name(pk)}")  # noqa: S608
            state[meta.db_table] = cursor.fetchall()
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(
        label for label in before.keys() | after.keys() if before.get(label) != after.get(label)
    )

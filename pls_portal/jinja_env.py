"""The Jinja2 engine of the few hot-path fragments (``templates/jinja2/``).

Everything else is a Django template. A fragment that a page repeats many times (the
PQL queue's rows) renders several times faster in Jinja2, which compiles templates to
Python, than in the Django template language: ``benchmarks/pages.py`` measures the
difference under load. Autoescaping is on, as in Django templates, and Django's safe
strings (``format_html``) stay unescaped.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

from pls_portal.templatetags.pls import local_time


def utc_minute(value: datetime | None) -> str:
    """``2026-01-31 14:05``: a UTC timestamp to the minute (Django's ``date:'Y-m-d H:i'``)."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def environment(**options) -> Environment:
    env = Environment(**{**options, "autoescape": True})  # noqa: S701 (it is on)
    env.filters.update(local_time=local_time, utc_minute=utc_minute)
    return env

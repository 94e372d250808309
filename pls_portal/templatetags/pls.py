"""Small template helpers shared by every page."""

from datetime import datetime, timedelta

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def timedelta_minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


@register.filter
def local_time(value: datetime | None, fmt: str = "datetime") -> str:
    """A UTC timestamp as <time>; static/js/app.js rewrites it in the reader's zone."""
    if value is None:
        return "—"
    return format_html(
        '<time datetime="{}" data-local="{}">{} UTC</time>',
        value.isoformat(),
        fmt,
        value.strftime("%Y-%m-%d %H:%M"),
    )

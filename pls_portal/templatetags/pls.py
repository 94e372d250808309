"""Small template helpers shared by every page."""

from datetime import datetime, timedelta

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def timedelta_minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


@register.filter
def local_time(value: datetime | None, fmt: str = "datetime") -> str:
    """A UTC timestamp as <time>; static/js/app.js rewrites it in the reader's zone."""
    if value is None:
        return "—"
    # A page shows hundreds: only ``fmt`` can hold markup (digits, "-", ":", "+" and "T"
    # are all a datetime prints), so it alone is escaped, not the whole format_html.
    return mark_safe(  # noqa: S308
        f'<time datetime="{value.isoformat()}" data-local="{escape(fmt)}">'
        f"{value.strftime('%Y-%m-%d %H:%M')} UTC</time>"
    )

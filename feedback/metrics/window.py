"""The window the metrics page reads: whole UTC days, a preset or a custom span."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PRESET_DAYS = (30, 90, 180, 365)
DEFAULT_DAYS = 90
MAX_DAYS = 731  # two years: enough for a year-on-year look, bounded for the charts


@dataclass(frozen=True)
class Window:
    """Whole UTC days, ``start`` to ``end`` inclusive."""

    start: date
    end: date
    preset: int | None = None

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.preset:
            return f"last {self.preset} days ({self.start:%d %b %Y} – {self.end:%d %b %Y})"
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    @property
    def months(self) -> list[date]:
        """First day of every calendar month the window touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months

    def days_in(self, month: date) -> int:
        """Days of ``month`` inside the window."""
        next_month = (month + timedelta(days=32)).replace(day=1)
        first, last = max(month, self.start), min(next_month - timedelta(days=1), self.end)
        return max((last - first).days + 1, 0)


def window_last(days: int, *, today: date) -> Window:
    return Window(start=today - timedelta(days=days - 1), end=today, preset=days)

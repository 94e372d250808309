"""Reverse IP: which companies' people visit anonymously, from admin-loaded IP ranges."""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from accounts.enrichment import _IPV4_MAPPED_BASE, ip_int
from accounts.models import Account, AccountDomain, Event, IPRange


@dataclass(frozen=True)
class VisitorCount:
    domain: str
    company: str
    visitors: int  # distinct anonymous ids
    events: int
    account: Account | None


class _RangeIndex:
    """All ranges, sorted, for bisect. CIDR ranges are nested or disjoint, so the
    rightmost range starting at or below an address is the narrowest containing it, or
    else one of its enclosing ranges (``parent``) is: a chain at most 128 deep."""

    def __init__(self, ranges: list[IPRange]) -> None:
        rows = sorted(
            ((int(r.first, 16), int(r.last, 16), r) for r in ranges),
            key=lambda t: (t[0], -t[1]),
        )
        self.firsts = [first for first, _, _ in rows]
        self.rows = rows
        self.parent: list[int | None] = []
        stack: list[int] = []
        for index, (first, _last, _row) in enumerate(rows):
            while stack and rows[stack[-1]][1] < first:
                stack.pop()
            self.parent.append(stack[-1] if stack else None)
            stack.append(index)

    def find(self, key: int) -> IPRange | None:
        index: int | None = bisect.bisect_right(self.firsts, key) - 1
        while index is not None and index >= 0:
            first, last, row = self.rows[index]
            if first <= key <= last:
                return row
            index = self.parent[index]
        return None


def _bounds(key: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    value = int(key, 16)
    if _IPV4_MAPPED_BASE <= value <= _IPV4_MAPPED_BASE | 0xFFFFFFFF:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return ipaddress.IPv6Address(value)


def _within(ranges: list[IPRange]) -> Q:
    """Addresses inside any of the ranges, as PostgreSQL compares ``inet`` values (IPv4
    and IPv6 apart: a range is split at the IPv4-mapped block)."""
    condition = Q(pk__in=[])
    v4_first, v4_last = _IPV4_MAPPED_BASE, _IPV4_MAPPED_BASE | 0xFFFFFFFF
    for r in ranges:
        first, last = int(r.first, 16), int(r.last, 16)
        parts = []
        if first < v4_first:  # IPv6 below the mapped block
            parts.append((first, min(last, v4_first - 1)))
        if last >= v4_first and first <= v4_last:  # IPv4
            parts.append((max(first, v4_first), min(last, v4_last)))
        if last > v4_last:  # IPv6 above it
            parts.append((max(first, v4_last + 1), last))
        for low, high in parts:
            condition |= Q(
                context_ip__gte=str(_bounds(f"{low:032x}")),
                context_ip__lte=str(_bounds(f"{high:032x}")),
            )
            if low >= v4_first and high <= v4_last:  # also stored as ::ffff:a.b.c.d
                condition |= Q(
                    context_ip__gte=str(ipaddress.IPv6Address(low)),
                    context_ip__lte=str(ipaddress.IPv6Address(high)),
                )
    return condition


def anonymous_visitors_by_company(
    *, days: int = 30, account_id: int | None = None, now: datetime | None = None
) -> list[VisitorCount]:
    """Anonymous visitors (events with no user, with an IP) of the last ``days`` days per
    company domain, most visitors first; only one account's domains with ``account_id``.

    Events are aggregated in SQL by (address, anonymous id), so Python sees distinct
    pairs, never events; the addresses are then placed in the ranges by bisect."""
    now = now or timezone.now()
    events = Event.objects.filter(
        user__isnull=True,
        context_ip__isnull=False,
        timestamp__gt=now - timedelta(days=days),
        timestamp__lte=now,
    )
    wanted: set[str] | None = None
    if account_id is None:
        ranges = list(IPRange.objects.all())
    else:
        wanted = set(
            AccountDomain.objects.filter(account_id=account_id).values_list("domain", flat=True)
        )
        own = list(IPRange.objects.filter(domain__in=wanted))
        if not own:  # no range of this company: nobody can be placed in it
            return []
        # The company's ranges and those overlapping them (narrower ones of another
        # company nested inside win their addresses); keys are fixed-width hex.
        overlapping = Q(pk__in=[])
        for r in own:
            overlapping |= Q(first__lte=r.last, last__gte=r.first)
        ranges = list(IPRange.objects.filter(overlapping))
        if connection.vendor == "postgresql":
            # Only addresses inside the company's ranges (an address in a narrower range
            # of another company nested in one is still left to that company below).
            events = events.filter(_within(own))
    index = _RangeIndex(ranges)
    if not index.rows:
        return []
    pairs = (
        events.order_by()
        .values("context_ip", "anonymous_id")
        .annotate(events=Count("id"))
        .values_list("context_ip", "anonymous_id", "events")
    )
    found: dict[str, tuple[str, set[str], list[int]]] = {}
    range_of: dict[str, IPRange | None] = {}
    for address, anonymous_id, events in pairs.iterator(chunk_size=5000):
        if address not in range_of:
            try:
                range_of[address] = index.find(ip_int(ipaddress.ip_address(address)))
            except ValueError:
                range_of[address] = None
        match = range_of[address]
        if match is None or (wanted is not None and match.domain not in wanted):
            continue
        _, visitors, counts = found.setdefault(match.domain, (match.company, set(), [0]))
        if anonymous_id:
            visitors.add(anonymous_id)
        counts[0] += events
    owners = {
        d.domain: d.account
        for d in AccountDomain.objects.filter(domain__in=list(found)).select_related("account")
    }
    result = [
        VisitorCount(
            domain=domain,
            company=company,
            visitors=len(visitors),
            events=counts[0],
            account=owners.get(domain),
        )
        for domain, (company, visitors, counts) in found.items()
    ]
    result.sort(key=lambda v: (-v.visitors, -v.events, v.domain))
    return result

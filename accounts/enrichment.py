"""Firmographic enrichment providers, and the address encoding reverse IP uses.

A provider answers "what company is behind this domain?". The portal runs on closed
networks, so the bundled provider, ``ImportedTablesProvider``, reads the ``Firmographic``
table filled by ``import_firmographics``. Another provider (a vendor API where the
network allows it) is any class with the two methods of ``EnrichmentProvider``, named
by its dotted path in the setting ``PLS_ENRICHMENT_PROVIDER``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import Firmographic

DEFAULT_PROVIDER = "accounts.enrichment.ImportedTablesProvider"
BULK_CHUNK = 1000


@dataclass(frozen=True)
class CompanyFacts:
    """What a provider knows about the company owning a registrable domain."""

    domain: str
    name: str = ""
    employees: int | None = None
    industry: str = ""
    country: str = ""
    annual_revenue: Decimal | None = None


class EnrichmentProvider(Protocol):
    """Company facts by registrable domain (lower-case, as ``registrable_domain`` gives)."""

    def company_for_domain(self, domain: str) -> CompanyFacts | None: ...

    def companies_for_domains(self, domains: Iterable[str]) -> dict[str, CompanyFacts]:
        """Facts for the domains it knows, keyed by domain; unknown ones are left out."""
        ...


class ImportedTablesProvider:
    """Reads the imported ``Firmographic`` table: no network needed."""

    def company_for_domain(self, domain: str) -> CompanyFacts | None:
        return self.companies_for_domains([domain]).get(domain)

    def companies_for_domains(self, domains: Iterable[str]) -> dict[str, CompanyFacts]:
        wanted = sorted({d for d in domains if d})
        facts: dict[str, CompanyFacts] = {}
        for start in range(0, len(wanted), BULK_CHUNK):
            for row in Firmographic.objects.filter(domain__in=wanted[start : start + BULK_CHUNK]):
                facts[row.domain] = CompanyFacts(
                    domain=row.domain,
                    name=row.company_name,
                    employees=row.employees,
                    industry=row.industry,
                    country=row.country,
                    annual_revenue=row.annual_revenue,
                )
        return facts


def get_provider() -> EnrichmentProvider:
    """An instance of the provider class the setting ``PLS_ENRICHMENT_PROVIDER`` names."""
    path = getattr(settings, "PLS_ENRICHMENT_PROVIDER", DEFAULT_PROVIDER) or DEFAULT_PROVIDER
    return import_string(path)()


# --- Reverse IP address encoding ---------------------------------------------------------

# IPv4 addresses live in IPv6's IPv4-mapped block ::ffff:0:0/96, so 203.0.113.7 and
# ::ffff:203.0.113.7 are one key and no IPv4 address ever equals a native IPv6 one.
_IPV4_MAPPED_BASE = 0xFFFF << 32


def ip_int(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """An address as a 128-bit integer, IPv4 mapped as ``::ffff:a.b.c.d``."""
    if address.version == 4:
        return _IPV4_MAPPED_BASE | int(address)
    return int(address)


def ip_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> str:
    """The address as the 32-digit zero-padded hex ``IPRange.first``/``last`` store."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.strip())
    return f"{ip_int(address):032x}"


def network_bounds(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    """The first and last address of a network as ``ip_key`` strings."""
    return ip_key(network.network_address), ip_key(network.broadcast_address)

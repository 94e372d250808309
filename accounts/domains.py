"""Company domains from email addresses, URLs and host names.

Identity resolution groups product users into accounts by the company their email
belongs to. Two things make that harder than splitting on ``@``: multi-part public
suffixes (``jane@eu.acme.co.uk`` belongs to ``acme.co.uk``, not ``co.uk``) and free-mail
providers (a ``gmail.com`` address says nothing about the company). This module answers
both with pure functions and no database or network access, so it is safe anywhere:
in a request, a Celery task or a bulk import.
"""

import re
from functools import cache
from pathlib import Path

import tldextract

_FREE_MAIL_FILE = Path(__file__).parent / "data" / "free_mail_domains.txt"

# A host label as DNS allows it (letters, digits, inner hyphens, at most 63 characters),
# plus non-ASCII letters so internationalised names (münchen.de) pass as typed.
_LABEL = re.compile(r"(?!-)(?:[a-z0-9-]|[^\x00-\x7f]){1,63}(?<!-)")


def _new_extractor() -> tldextract.TLDExtract:
    """Build the suffix-list extractor from tldextract's bundled Public Suffix List only.

    ``suffix_list_urls=()`` stops it fetching the list over HTTP and ``cache_dir=None``
    stops it reading or writing a user cache, so results do not depend on the host's
    network (the portal runs on closed networks) or on what an earlier run left behind;
    the list moves only when the tldextract pin does.

    ``include_psl_private_domains=True`` treats the PSL's private section (github.io,
    herokuapp.com, myshopify.com…) as suffixes: ``customer.github.io`` is the customer's
    site, not GitHub the company, so grouping everyone on github.io into one account
    would be wrong. The cost is that a bare private suffix (``github.io``) has no
    registrable domain, which is right for identification too.
    """
    return tldextract.TLDExtract(
        suffix_list_urls=(),
        cache_dir=None,
        include_psl_private_domains=True,
    )


# One extractor for the process: it parses the suffix list once, on first use.
_EXTRACTOR = _new_extractor()


def registrable_domain(value: str) -> str | None:
    """The registrable domain (eTLD+1), lower-cased, of an email address, URL or host.

    ``jane@eu.acme.co.uk`` → ``acme.co.uk``, ``https://WWW.Acme.com/about`` → ``acme.com``.
    Returns None when there is none to give (IP addresses, ``localhost``, a bare public
    suffix, malformed input), so callers treat "no company" as one case, not several.
    """
    text = value.strip().lower() if value else ""
    if not text:
        return None
    parts = _EXTRACTOR(text)
    if not parts.suffix or not parts.domain:
        return None
    labels = [parts.domain, *(parts.subdomain.split(".") if parts.subdomain else [])]
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return parts.top_domain_under_public_suffix


def email_domain(email: str) -> str | None:
    """The registrable domain of an email address, or None if it is not plausibly one.

    Stricter than ``registrable_domain``: it needs a local part and a bare host after the
    last ``@`` (quoted local parts may themselves contain ``@``), so a URL or a host name
    passed by mistake is not taken for an email.
    """
    text = email.strip() if email else ""
    local, at, host = text.rpartition("@")
    if not at or not local or not host:
        return None
    if any(char.isspace() for char in text) or any(char in host for char in "/:?#[]"):
        return None
    return registrable_domain(host)


def is_free_mail(domain: str) -> bool:
    """Whether a domain belongs to a free or consumer email provider (gmail.com, gmx.de…).

    The input is reduced to its registrable domain first, so case, surrounding
    whitespace and subdomains (``mail.yahoo.co.jp``) do not hide a provider.
    """
    registrable = registrable_domain(domain)
    return registrable is not None and registrable in _free_mail_domains()


def company_domain(email_or_host: str) -> str | None:
    """The domain that identifies a company, or None when the input cannot identify one.

    Free-mail domains give None: thousands of unrelated people share gmail.com, and
    grouping them into one account would make a giant fake PQA.
    """
    domain = registrable_domain(email_or_host)
    if domain is None or domain in _free_mail_domains():
        return None
    return domain


@cache
def _free_mail_domains() -> frozenset[str]:
    """The free-mail list from the data file, read once per process."""
    domains = set()
    for line in _FREE_MAIL_FILE.read_text(encoding="utf-8").splitlines():
        entry = line.partition("#")[0].strip().lower()
        if entry:
            domains.add(entry)
    return frozenset(domains)

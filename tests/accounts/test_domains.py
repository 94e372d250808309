import socket

import pytest
import tldextract

from accounts import domains
from accounts.domains import company_domain, email_domain, is_free_mail, registrable_domain


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme.co.uk", "acme.co.uk"),
        ("acme.com.au", "acme.com.au"),
        ("acme.co.jp", "acme.co.jp"),
        ("acme.com.br", "acme.com.br"),
        ("jane@eu.acme.co.uk", "acme.co.uk"),
        ("shop.acme.com.au", "acme.com.au"),
    ],
)
def test_multi_part_public_suffix_keeps_the_company_label(value, expected):
    assert registrable_domain(value) == expected


@pytest.mark.parametrize(
    "value",
    ["sub.team.acme.io", "www.acme.io", "a.b.c.d.acme.io", "jane@mail.eu.acme.io"],
)
def test_subdomains_collapse_to_the_registrable_domain(value):
    assert registrable_domain(value) == "acme.io"


@pytest.mark.parametrize(
    "value",
    [
        "https://WWW.Acme.com/about",
        "http://www.acme.com/x",
        "https://acme.com:8443/pricing?plan=team#faq",
        "http://user:secret@app.acme.com:8080/login",
        "//cdn.acme.com/app.js",
        "acme.com:8080/path",
        "ftp://files.acme.com",
    ],
)
def test_urls_with_scheme_port_path_and_credentials_give_the_host_domain(value):
    assert registrable_domain(value) == "acme.com"


@pytest.mark.parametrize("value", ["ACME.CO.UK", "Jane.Doe@EU.Acme.Co.Uk", "  acme.co.uk\n"])
def test_domain_is_lower_cased_and_whitespace_ignored(value):
    assert registrable_domain(value) == "acme.co.uk"


def test_trailing_dot_of_a_fully_qualified_name_is_ignored():
    assert registrable_domain("www.acme.com.") == "acme.com"


def test_internationalised_domain_is_kept_as_typed():
    assert registrable_domain("shop.münchen.de") == "münchen.de"
    assert registrable_domain("xn--mnchen-3ya.de") == "xn--mnchen-3ya.de"


@pytest.mark.parametrize(
    "value",
    [
        "192.168.0.1",
        "10.0.0.1:8000",
        "http://203.0.113.7/admin",
        "jane@127.0.0.1",
        "::1",
        "http://[2001:db8::1]:8080/",
    ],
)
def test_ip_addresses_have_no_registrable_domain(value):
    assert registrable_domain(value) is None


@pytest.mark.parametrize("value", ["localhost", "http://localhost:8000/", "jane@localhost"])
def test_localhost_has_no_registrable_domain(value):
    assert registrable_domain(value) is None


@pytest.mark.parametrize("value", ["co.uk", "com", "com.au", "jane@co.uk", "https://co.jp/"])
def test_bare_public_suffix_has_no_registrable_domain(value):
    assert registrable_domain(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "garbage",
        "not a domain",
        "foo bar.com",
        "acme..com",
        "-acme.com",
        "acme-.com",
        "*.acme.com",
        "jane@",
        "jane@acme",
        "@",
        "http://",
        "a" * 64 + ".com",
    ],
)
def test_empty_or_malformed_input_has_no_registrable_domain(value):
    assert registrable_domain(value) is None


def test_private_suffix_keeps_the_customer_label():
    assert registrable_domain("foo.github.io") == "foo.github.io"
    assert registrable_domain("https://docs.foo.github.io/start") == "foo.github.io"
    assert registrable_domain("my-app.herokuapp.com") == "my-app.herokuapp.com"


def test_bare_private_suffix_has_no_registrable_domain():
    assert registrable_domain("github.io") is None


def test_email_domain_of_an_address_is_its_registrable_domain():
    assert email_domain("jane@eu.acme.co.uk") == "acme.co.uk"
    assert email_domain("  Jane.Doe+trial@Acme.COM ") == "acme.com"
    assert email_domain('"jane@home"@acme.com') == "acme.com"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "acme.com",
        "https://acme.com/",
        "jane@",
        "@acme.com",
        "jane doe@acme.com",
        "jane@acme.com/path",
        "jane@acme.com:25",
        "jane@localhost",
        "jane@[192.168.0.1]",
        "jane@co.uk",
    ],
)
def test_email_domain_is_none_for_what_is_not_a_plausible_email(value):
    assert email_domain(value) is None


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "yahoo.co.jp",
        "yahoo.co.uk",
        "ymail.com",
        "icloud.com",
        "proton.me",
        "gmx.de",
        "web.de",
        "mail.ru",
        "qq.com",
        "naver.com",
        "orange.fr",
        "t-online.de",
        "seznam.cz",
        "wp.pl",
        "rediffmail.com",
    ],
)
def test_free_mail_providers_are_recognised(domain):
    assert is_free_mail(domain)


@pytest.mark.parametrize("domain", ["GMail.COM", "  gmail.com\n", "Yahoo.Co.JP"])
def test_free_mail_check_ignores_case_and_whitespace(domain):
    assert is_free_mail(domain)


def test_free_mail_check_sees_through_subdomains_and_addresses():
    assert is_free_mail("mail.yahoo.co.jp")
    assert is_free_mail("jane@hotmail.co.uk")


@pytest.mark.parametrize(
    "domain", ["acme.com", "acme.co.uk", "gmail.co.uk", "notgmail.com", "", "localhost"]
)
def test_company_and_invalid_domains_are_not_free_mail(domain):
    assert not is_free_mail(domain)


def test_free_mail_list_is_large_and_every_entry_is_a_registrable_domain():
    listed = domains._free_mail_domains()
    assert len(listed) >= 150
    assert {entry for entry in listed if registrable_domain(entry) != entry} == set()


def test_company_domain_of_a_work_email_is_the_company():
    assert company_domain("jane@eu.acme.co.uk") == "acme.co.uk"
    assert company_domain("https://www.acme.com/about") == "acme.com"


@pytest.mark.parametrize(
    "value", ["jane@gmail.com", "Jane@Hotmail.FR", "bob@yahoo.co.uk", "mail.ru", "x@pm.me"]
)
def test_company_domain_is_none_for_free_mail(value):
    assert company_domain(value) is None


@pytest.mark.parametrize("value", ["", "jane@localhost", "jane@10.0.0.1", "co.uk"])
def test_company_domain_is_none_without_a_registrable_domain(value):
    assert company_domain(value) is None


@pytest.fixture
def network_attempts(monkeypatch):
    """Record and refuse every DNS lookup and socket: a fetch cannot succeed or hide.

    tldextract swallows failed fetches and falls back to its snapshot, so refusing alone
    would not show a fetch was tried; the recorded attempts do.
    """
    attempts = []

    def refuse(name):
        def _refuse(*args, **kwargs):
            attempts.append((name, args))
            raise OSError(f"network disabled in test: {name}")

        return _refuse

    monkeypatch.setattr(socket, "socket", refuse("socket"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


def test_suffix_list_comes_from_the_bundled_snapshot_without_network(network_attempts):
    extractor = domains._new_extractor()

    assert extractor("jane@eu.acme.co.uk").top_domain_under_public_suffix == "acme.co.uk"
    assert network_attempts == []


def test_network_guard_catches_an_extractor_that_fetches(network_attempts):
    tldextract.TLDExtract(cache_dir=None, suffix_list_urls=["https://publicsuffix.org/list/"])(
        "acme.co.uk"
    )

    assert network_attempts != []


def test_module_extractor_is_the_offline_one():
    assert domains._EXTRACTOR.suffix_list_urls == ()
    assert domains._EXTRACTOR.include_psl_private_domains is True

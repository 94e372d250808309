"""Play templates (first messages, rendered in Jinja2's sandbox by
``playbooks.rendering.play_message_render``) cannot reach settings, the ORM, files, the
interpreter or the process's memory: every escape attempt below is refused with an
error naming why (or renders harmless text), rendering never raises, the text never
holds a secret, nothing in the database or on disk changes, and no attempt makes the
renderer allocate more than a few megabytes. What users see: the editor refuses the
template on save, the live preview shows the error, and a dossier whose stored play
template is hostile shows the error in place of the message (never a 500).
"""

import tracemalloc
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from playbooks.messages import message_context, sample_context
from playbooks.models import Play
from playbooks.rendering import play_message_render
from playbooks.services import play_matches_refresh
from tests.playbooks.factories import open_item, scored_account
from tests.playbooks.test_pages import SECURITY, _post_data
from tests.playbooks.test_rendering import BUYER
from tests.security.support import changed_tables, db_state

UNDEFINED = "Undefined on line 1"
NOT_ALLOWED = "Not allowed on line 1"
NOT_AVAILABLE = "Syntax error on line 1"
LIMIT = "Limit reached on line 1"
FAILED = "The template failed on line 1"
PROBE_FILE = Path("/tmp/pls-sandbox-probe")  # noqa: S108 (a file the payloads try to write)

# (template, how the renderer answers: the start of the error; "" = renders, harmlessly)
PAYLOADS = [
    # Settings, the process, files and the ORM: none of them is a variable.
    ("{{ settings.SECRET_KEY }}", UNDEFINED),
    ("{{ config }}", UNDEFINED),
    ("{{ request.META }}", UNDEFINED),
    ("{{ os.environ }}", UNDEFINED),
    ("{{ __import__('os').system('id') }}", UNDEFINED),
    ("{{ open('/etc/passwd').read() }}", UNDEFINED),
    (f"{{{{ open('{PROBE_FILE}', 'w').write('x') }}}}", UNDEFINED),
    ("{{ subprocess.check_output('id') }}", UNDEFINED),
    ("{{ url_for.__globals__ }}", UNDEFINED),
    ("{{ get_flashed_messages.__globals__ }}", UNDEFINED),
    # Templates get plain dicts: no model, no manager, no password.
    ("{{ account.objects.all() }}", UNDEFINED),
    ("{{ account.save() }}", UNDEFINED),
    ("{{ account.delete() }}", UNDEFINED),
    ("{{ rep.password }}", UNDEFINED),
    ("{{ rep.user.password }}", UNDEFINED),
    ("{{ account.__class__.objects }}", NOT_ALLOWED),
    # Nothing to load: include, import and extends are refused when parsed.
    ("{% include '/etc/passwd' %}", NOT_AVAILABLE),
    ("{% include 'base.html' %}", NOT_AVAILABLE),
    ("{% import 'os' as os %}{{ os }}", NOT_AVAILABLE),
    ("{% from 'settings' import SECRET_KEY %}{{ SECRET_KEY }}", NOT_AVAILABLE),
    ("{% extends '../pls_portal/settings.py' %}", NOT_AVAILABLE),
    # Walks from a value to the interpreter through dunder attributes.
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", NOT_ALLOWED),
    ("{{ ''.__class__.__base__.__subclasses__() }}", NOT_ALLOWED),
    ("{{ ().__class__.__bases__[0].__subclasses__() }}", NOT_ALLOWED),
    ("{{ [].__class__.__mro__ }}", NOT_ALLOWED),
    ("{{ account.__class__.__init__.__globals__ }}", NOT_ALLOWED),
    ("{{ account.name.__class__ }}", NOT_ALLOWED),
    ("{{ account.__getitem__.__globals__ }}", NOT_ALLOWED),
    ("{{ dict.__subclasses__() }}", NOT_ALLOWED),
    ("{{ dict.mro() }}", NOT_ALLOWED),
    ("{{ dict.__init__.__globals__ }}", NOT_ALLOWED),
    ("{{ namespace.__init__.__globals__['os'] }}", NOT_ALLOWED),
    ("{{ namespace.__module__ }}", NOT_ALLOWED),
    ("{{ namespace()|attr('__class__') }}", NOT_ALLOWED),
    ("{{ self.__init__.__globals__.__builtins__ }}", NOT_ALLOWED),
    ("{{ self._TemplateReference__context }}", NOT_ALLOWED),
    ("{{ self._TemplateReference__context.environment }}", NOT_ALLOWED),
    ("{{ self.__dict__ }}", NOT_ALLOWED),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", NOT_ALLOWED),
    ("{{ joiner.__init__.__globals__ }}", NOT_ALLOWED),
    ("{{ lipsum.__globals__['os'].popen('id').read() }}", UNDEFINED),
    ("{{ lipsum(100000) }}", UNDEFINED),
    ("{{ range.__self__ }}", UNDEFINED),
    ("{% for x in range(10**9) %}{{ x }}{% endfor %}", UNDEFINED),
    ("{{ account|attr('__class__') }}", NOT_ALLOWED),
    ("{{ account|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", NOT_ALLOWED),
    ("{{ account['__class__'] }}", NOT_ALLOWED),
    ("{{ (account|list|first).__class__ }}", NOT_ALLOWED),
    ("{{ account|map(attribute='__class__')|list }}", ""),  # every item: Undefined
    ("{{ [account.name, 'x']|sort(attribute='__class__') }}", NOT_ALLOWED),
    ("{% macro m() %}{{ caller.__globals__ }}{% endmacro %}{% call m() %}{% endcall %}", UNDEFINED),
    ("{% for x in account %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}", NOT_ALLOWED),
    ("{% set ns = namespace() %}{% set ns.__class__ = dict %}{{ ns.__class__ }}", NOT_ALLOWED),
    # Format strings reach attributes too: str.format, format_map and % are refused.
    ("{{ '{0.__class__}'.format(account.name) }}", NOT_ALLOWED),
    ("{{ '{0.__class__.__mro__}'.format_map(account) }}", NOT_ALLOWED),
    ("{{ account.name.format('x') }}", NOT_ALLOWED),
    ("{{ account.name|string|attr('format')('{0.__class__}') }}", NOT_ALLOWED),
    ("{{ '%s' % account.name }}", NOT_ALLOWED),
    ("{{ '%(name)s' % account }}", NOT_ALLOWED),
    ("{{ account.name|format('x') }}", NOT_AVAILABLE),
    # The context cannot be changed.
    ("{{ usage.features.append('x') }}", NOT_ALLOWED),
    ("{{ account.pop('name') }}", NOT_ALLOWED),
    ("{{ account.update({'name': 'x'}) }}", NOT_ALLOWED),
    ("{{ account.clear() }}", NOT_ALLOWED),
    # Memory and time: every size and every loop is capped before it is paid for.
    ("{{ 'x' * 10**9 }}", LIMIT),
    ("{{ [0] * 10**9 }}", LIMIT),
    ("{{ 9 ** 999999 }}", LIMIT),
    ("{{ 'x'.ljust(10**9) }}", NOT_ALLOWED),
    ("{{ 'x'.zfill(10**9) }}", NOT_ALLOWED),
    ("{{ 'x'|center(10**9) }}", NOT_AVAILABLE),
    ("{{ 'x'|indent(10**9) }}", NOT_AVAILABLE),
    ("{{ 'x'|replace('', 'y' * 9999) }}", LIMIT),
    ("{{ account|tojson(indent=10**9) }}", LIMIT),
    ("{{ account|tojson(indent='x' * 9999) }}", LIMIT),
    ("{{ [1]|batch(10**9, 0)|list }}", LIMIT),
    ("{{ ('x' * 9999)|wordwrap(1, wrapstring='y' * 9999) }}", LIMIT),
    ("{{ ('x' * 9999)|join('y' * 9999) }}", LIMIT),
    ("{% set a = ['x' * 9999] * 9999 %}{% set b = [a] * 9999 %}{{ b }}", LIMIT),
    (
        "{% set a = 'x' * 9999 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{{ c }}",
        LIMIT,
    ),
    (
        "{% set ns = namespace(a=[]) %}{% for c in 'x' * 4999 %}{% set ns.a = [ns.a, ns.a] %}"
        "{% endfor %}{{ ns.a }}",
        LIMIT,
    ),
    (
        "{% set ns = namespace(a='x' * 9999) %}{% set ns.b = ns.a %}{% set ns.c = ns.a %}"
        "{% set ns.d = ns.a %}{% set ns.e = ns.a %}{% set ns.f = ns.a %}{{ ns }}",
        LIMIT,
    ),
    (
        "{% set b %}{% for c in 'x' * 4999 %}{{ '€' * 9999 }}{% endfor %}{% endset %}"
        "{{ b|length }}",
        LIMIT,
    ),
    (
        "{% set s %}{% for c in 'x' * 2400 %}{% filter replace('', 'y' * 9000) %}"
        "{% endfilter %}{% endfor %}{% endset %}{{ s|length }}",
        LIMIT,
    ),
    (
        "{% macro m() %}{% for c in 'x' * 4999 %}{{ '€' * 9999 }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
        LIMIT,
    ),
    ("{% for a in 'x' * 9999 %}{% for b in 'x' * 9999 %}.{% endfor %}{% endfor %}", LIMIT),
    (
        "{% set big = ['x'] * 12000 %}{% for c in 'x' * 2400 %}{{ (big|list)|length }}"
        "{% endfor %}",
        LIMIT,
    ),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", FAILED),
    ("{{ account.name|wordwrap(0) }}", FAILED),
    ("{{ usage.active_users_30 / 0 }}", FAILED),
]  # fmt: skip

# Payloads that would build gigabytes if a cap came after the allocation.
BLOW_UPS = [template for template, answer in PAYLOADS if answer == LIMIT]
MAX_RENDER_MEMORY = 20 * 2**20


def _secrets() -> list[str]:
    database = settings.DATABASES["default"]
    values = [settings.SECRET_KEY, settings.CELERY_BROKER_URL]
    values += [str(database.get(key) or "") for key in ("NAME", "USER", "PASSWORD", "HOST")]
    return [value for value in values if len(value) >= 4]


def test_there_are_at_least_fifty_escape_attempts():
    assert len(PAYLOADS) >= 50
    assert len({template for template, _ in PAYLOADS}) == len(PAYLOADS)


@pytest.mark.parametrize(("template", "answer"), PAYLOADS, ids=range(len(PAYLOADS)))
def test_an_escape_attempt_is_refused_naming_why_and_never_raises(template, answer):
    text, error = play_message_render(template=template, context=sample_context())

    if answer:
        assert (text, error[: len(answer)]) == ("", answer), error
    else:
        assert error == "" and text
    for secret in _secrets():
        assert secret not in text and secret not in error
    for leak in ("<module ", "<function ", "<built-in ", "<bound method ", "__globals__"):
        assert leak not in text


def test_escape_attempts_against_a_real_accounts_context_change_nothing(db, users):
    account = scored_account(name="Fernhill Insurance", active_users_30=7)
    open_item(account)
    context = message_context(account_id=account.pk, rep=users["ae"])
    before = db_state()

    results = [play_message_render(template=t, context=context) for t, _ in PAYLOADS]

    assert [bool(error) for _, error in results] == [bool(answer) for _, answer in PAYLOADS]
    assert changed_tables(before, db_state()) == []
    assert not PROBE_FILE.exists()
    assert all(secret not in str(results) for secret in _secrets())


@pytest.mark.parametrize("template", BLOW_UPS, ids=range(len(BLOW_UPS)))
def test_a_blow_up_attempt_is_stopped_before_it_allocates(template):
    context = sample_context()
    tracemalloc.start()
    try:
        _, error = play_message_render(template=template, context=context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.startswith(LIMIT)
    assert peak < MAX_RENDER_MEMORY, f"{peak / 2**20:.0f} MB"


ESCAPE = "{{ self._TemplateReference__context.environment.globals }}"
REFUSAL = (
    "Not allowed on line 1: access to attribute &#x27;_TemplateReference__context&#x27; "
    "of &#x27;TemplateReference&#x27; object is unsafe."
)


def test_the_editor_refuses_an_escape_template_on_save_saying_why(client, users):
    play = Play.objects.get(key="repeated-pricing-visits")
    template = play.message_template
    client.force_login(users["admin"])

    response = client.post(
        reverse("playbooks:play_edit", args=[play.pk]),
        _post_data(conditions=SECURITY, message_template=ESCAPE),
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error-message_template"' in html
    assert f"{REFUSAL} (with sample values)" in html
    play.refresh_from_db()
    assert play.message_template == template


def test_the_live_preview_shows_the_refusal_never_a_500(client, users):
    account = scored_account()
    client.force_login(users["admin"])

    response = client.post(
        reverse("playbooks:preview"),
        _post_data(conditions=SECURITY, preview_account=str(account.pk), message_template=ESCAPE),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="preview-error"' in html and REFUSAL in html
    assert settings.SECRET_KEY not in html


def test_a_dossier_whose_stored_template_is_hostile_shows_the_error_not_a_500(client, users):
    account = scored_account(
        name="Fernhill Insurance", plan="free", active_users_30=7, core_features_30=4,
        active_users_7=5, pricing_views_30=1,
    )  # fmt: skip
    item = open_item(account, buyers=[BUYER])
    item.route = "ae"
    item.save(update_fields=["route"])
    play_matches_refresh()
    # Stored before the editor's check existed, or written straight to the database.
    Play.objects.filter(key="five-users-on-free-plan").update(message_template=ESCAPE)
    client.force_login(users["ae"])

    response = client.get(reverse("dossiers:dossier", args=[account.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "The play's first-message template has an error, so no message is filled in" in html
    assert REFUSAL in html
    assert ".. An admin can fix it" not in html and ". An admin can fix it" in html
    assert settings.SECRET_KEY not in html

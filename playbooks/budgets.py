"""The work and size budgets of a play template's render (see playbooks/rendering.py):
loop steps and calls counted, strings, numbers, lists, dicts and namespaces capped by
what they would print as, filters whose arguments multiply their input checked before
they run, and every piece of written text counted (blocks, macros and ``{% set %}``
captures included), so nothing is built in memory past the caps first.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from contextvars import ContextVar

from jinja2 import pass_context, pass_environment, pass_eval_context
from jinja2.filters import FILTERS, do_replace
from jinja2.sandbox import SecurityError
from jinja2.utils import Namespace

MAX_TEXT = 10_000  # any string built while rendering, and the message itself
MAX_WEIGHT = 50_000  # any list, dict or namespace: the characters it holds, nested ones too
MAX_WRITTEN = 100_000  # text written in one render, into blocks and macros included
MAX_STEPS = 5_000  # loop steps, calls and filters in one render
MAX_MEASURED = 500_000  # list, dict and namespace items measured in one render
MAX_INT_BITS = 4_096
MAX_JSON_INDENT = 4


class TemplateBudgetError(SecurityError):
    """The template does too much work or builds something too big."""


class Budget:
    """What the render in progress has used: steps, characters written, and the weights
    of the containers measured so far (a few hundred, kept alive so that an id is not
    reused while it is remembered), so a big list used in a loop is measured once."""

    CACHED_WEIGHTS = 256

    def __init__(self) -> None:
        self.steps = 0
        self.written = 0
        self.measured = 0
        self.weights: OrderedDict[int, tuple[object, int]] = OrderedDict()

    def weight_of(self, value) -> int | None:
        hit = self.weights.get(id(value))
        if hit is None or hit[0] is not value:
            return None
        self.weights.move_to_end(id(value))
        return hit[1]

    def remember(self, value, weight: int) -> None:
        self.weights[id(value)] = (value, weight)
        self.weights.move_to_end(id(value))
        if len(self.weights) > self.CACHED_WEIGHTS:
            self.weights.popitem(last=False)


# The budget of the render in progress (None while compiling).
current: ContextVar[Budget | None] = ContextVar("play_template_budget", default=None)


def step(n: int = 1) -> None:
    budget = current.get()
    if budget is None:  # compile-time constant folding: bounded by the template's length
        return
    budget.steps += n
    if budget.steps > MAX_STEPS:
        raise TemplateBudgetError(
            f"the template does too much work (more than {MAX_STEPS:,} loop steps and calls)"
        )


def too_big() -> TemplateBudgetError:
    return TemplateBudgetError(f"the template builds text longer than {MAX_TEXT:,} characters")


def too_heavy() -> TemplateBudgetError:
    return TemplateBudgetError(
        f"the template builds lists or dicts holding more than {MAX_WEIGHT:,} characters"
    )


def weight(value, limit: int = MAX_WEIGHT) -> int:
    """About how many characters ``value`` prints as, nested containers included (a list
    sharing one big list 10,000 times weighs 10,000 big lists: ``str()`` would allocate
    every copy), measured only until past ``limit``. Containers measured before in this
    render are not walked again."""
    if isinstance(value, str):
        return len(value) + 1
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int):
        return value.bit_length() // 3 + 1  # decimal digits, rounded up
    if isinstance(value, BoundedNamespace):
        return object.__getattribute__(value, "_total")
    if isinstance(value, Namespace):
        value = value._Namespace__attrs
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return 1
    budget = current.get()
    known = budget.weight_of(value) if budget is not None else None
    if known is not None:
        return known
    total = 1 + len(value)
    if budget is not None:
        budget.measured += len(value)
        if budget.measured > MAX_MEASURED:
            raise TemplateBudgetError(
                f"the template does too much work (measures more than {MAX_MEASURED:,} "
                "list and dict items)"
            )
    parts = (*value.keys(), *value.values()) if isinstance(value, dict) else value
    for part in parts:
        if total > limit:
            return total  # too heavy: not remembered, the render stops here
        total += weight(part, limit - total)
    if budget is not None and total <= limit:
        budget.remember(value, total)
    return total


def sized(value):
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise too_big()
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateBudgetError("the template builds a number too large to show")
    elif (
        isinstance(value, (list, tuple, dict, set, frozenset, Namespace))
        and weight(value) > MAX_WEIGHT
    ):
        raise too_heavy()
    return value


class BoundedNamespace(Namespace):
    """``namespace()`` whose ``{% set ns.x = … %}`` keeps it within the weight cap. Its
    weight is kept up to date attribute by attribute (``Namespace`` answers every other
    attribute lookup from its contents, hence ``object.__getattribute__``)."""

    def __init__(*args, **kwargs) -> None:
        self = args[0]
        Namespace.__init__(*args, **kwargs)
        object.__setattr__(self, "_weights", {})
        object.__setattr__(self, "_total", 1)
        for name, value in self._Namespace__attrs.items():
            _namespace_count(self, name, value)

    def __setitem__(self, name: str, value) -> None:
        _namespace_count(self, name, value)
        super().__setitem__(name, value)


def _namespace_count(ns: BoundedNamespace, name, value) -> None:
    weights = object.__getattribute__(ns, "_weights")
    added = weight(name) + weight(value)
    total = object.__getattribute__(ns, "_total") - weights.get(name, 0) + added
    if total > MAX_WEIGHT:
        raise too_heavy()
    weights[name] = added
    object.__setattr__(ns, "_total", total)


def guard_filter(func):
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context …) on the wrapper
    def guarded(*args, **kwargs):
        step()
        return sized(func(*args, **kwargs))

    return guarded


def loop_steps(iterable):
    """Wraps every ``{% for %}``'s iterable: each step counts against the budget."""
    for item in iterable:
        step()
        yield item


def size_check(value):
    step()
    return sized(value)


@pass_context  # never folded into a constant at compile time: it counts at run time
def written(context, value) -> str:
    """Every piece of text a template writes, into the message or a block, a macro or a
    ``{% set %}`` capture: counted, so a capture in a loop cannot grow past the caps."""
    text = value if isinstance(value, str) else str(value)  # Markup stays Markup
    budget = current.get()
    if budget is not None:
        budget.written += len(text)
        if budget.written > MAX_WRITTEN:
            raise TemplateBudgetError(
                f"the template writes more than {MAX_WRITTEN:,} characters in all "
                "(blocks, macros and loops included)"
            )
    return text


def batch(value, linecount, fill_with=None):
    # batch(10**9, '') pads a list to a billion items before anything could measure it.
    if not isinstance(linecount, int) or linecount > MAX_TEXT:
        raise TemplateBudgetError(f"batch: at most {MAX_TEXT:,} items in a batch")
    return _FILTER_BATCH(value, linecount, fill_with)


@pass_eval_context
def join(eval_ctx, value, d="", attribute=None):
    items = list(value)
    if weight(items) + max(len(items) - 1, 0) * len(str(d)) > MAX_TEXT:
        raise too_big()
    return _FILTER_JOIN(eval_ctx, items, d, attribute)


@pass_environment
def wordwrap(
    environment, s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True
):
    # A one-character wrap string counts the line breaks; the real one may be long.
    probe = _FILTER_WORDWRAP(environment, s, width, break_long_words, "\n", break_on_hyphens)
    wrapstring = environment.newline_sequence if wrapstring is None else str(wrapstring)
    breaks = probe.count("\n")
    if len(probe) + breaks * (len(wrapstring) - 1) > MAX_TEXT:
        raise too_big()
    return probe if wrapstring == "\n" else probe.replace("\n", wrapstring)


@pass_eval_context
def tojson(eval_ctx, value, indent=None):
    # A huge (or string) indent multiplies every line before the size check could run.
    if indent is not None and (
        not isinstance(indent, int) or isinstance(indent, bool) or indent > MAX_JSON_INDENT
    ):
        raise TemplateBudgetError(
            f"tojson: indent is a number of spaces, at most {MAX_JSON_INDENT}"
        )
    return _FILTER_TOJSON(eval_ctx, value, indent)


_FILTER_BATCH = FILTERS["batch"]
_FILTER_JOIN = FILTERS["join"]
_FILTER_WORDWRAP = FILTERS["wordwrap"]
_FILTER_TOJSON = FILTERS["tojson"]


@pass_eval_context
def replace(eval_ctx, s, old, new, count=None):
    text, old_text, new_text = str(s), str(old), str(new)
    n = text.count(old_text) if old_text else len(text) + 1
    if count is not None:
        n = min(n, count)
    if len(text) + n * len(new_text) > MAX_TEXT:
        raise too_big()
    return do_replace(eval_ctx, s, old, new, count)

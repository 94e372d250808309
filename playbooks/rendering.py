"""First messages: a play's template rendered in Jinja2's sandbox (DESIGN.md "Stack
details": a broken template is an error in the editor, never a 500).

- ``ImmutableSandboxedEnvironment`` (a ``SandboxedEnvironment`` that also refuses
  ``list.append``, ``dict.pop`` …): no private or internal attributes
  (``''.__class__.__mro__`` is refused), no ``str.format``; only plain dicts, lists,
  strings and numbers come in, so ``{{ account.save }}`` is simply undefined.
- ``StrictUndefined``: a missing variable or key is an error, not an empty string.
- Autoescape off: the message is plain text for an email; pages escape it when they
  show it.
- Work and size budgets (playbooks/budgets.py), because an admin's typo should not take
  a worker down: loop steps and calls are counted, strings, numbers, lists, dicts and
  namespaces built while rendering are capped by what they would print as (nested ones
  included), filters whose arguments multiply their input are checked before they run,
  all written text is counted (blocks and macros too), and the output is cut off as soon
  as it grows past the cap.

``play_message_render`` never raises: every failure becomes an error string naming the
line when Jinja knows it.
"""

from __future__ import annotations

import functools
import logging
import types

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2.filters import FILTERS
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from playbooks import budgets
from playbooks.budgets import (
    MAX_INT_BITS,
    MAX_TEXT,
    MAX_WEIGHT,
    BoundedNamespace,
    TemplateBudgetError,
)

logger = logging.getLogger(__name__)

VARIABLES = ("account", "usage", "signals", "buyer", "rep")
MAX_TEMPLATE_CHARS = 10_000
TEMPLATE_NAME = "<play template>"

# Filters that build strings from a width argument (center(10**9)) or loop by an argument
# (slice(10**9)) before any size check could see the result, or that format with %.
REMOVED_FILTERS = ("center", "indent", "format", "slice", "wordcount", "urlize", "xmlattr")
# str methods refused for the same reason; str.format is refused by wrap_str_format.
UNSAFE_STR_METHODS = frozenset(
    {"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "encode", "maketrans",
     "translate", "join"}
)  # fmt: skip


class _Guard(NodeTransformer):
    """Rewrites the parsed template: loops count their steps, concatenations (``~``) and
    list, tuple and dict literals are size-checked, every piece of written text is
    counted (``{% filter %}`` blocks too), and include / import / extends (there is
    nothing to load) are refused at parse time with their line."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_steps", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return nodes.Filter(node, "_size", [], [], None, None, lineno=node.lineno)

    def _literal(self, node: nodes.Node) -> nodes.Node:
        node = self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":  # {% set a, b = … %}, loop targets
            return node
        return nodes.Filter(node, "_size", [], [], None, None, lineno=node.lineno)

    visit_List = visit_Tuple = visit_Dict = _literal

    def _written(self, node: nodes.Node) -> nodes.Node:
        return nodes.Filter(node, "_written", [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        node.nodes = [self._written(child) for child in node.nodes]
        return node

    def visit_FilterBlock(self, node: nodes.FilterBlock) -> nodes.Node:
        node = self.generic_visit(node)
        node.filter = self._written(node.filter)
        return node

    def _refuse(self, node: nodes.Node, what: str):
        raise TemplateSyntaxError(
            f"{{% {what} %}} is not available in play templates", node.lineno, TEMPLATE_NAME
        )

    def visit_Include(self, node):
        self._refuse(node, "include")

    def visit_Import(self, node):
        self._refuse(node, "import")

    def visit_FromImport(self, node):
        self._refuse(node, "from … import")

    def visit_Extends(self, node):
        self._refuse(node, "extends")


def _refuse_format(*args, **kwargs):
    raise SecurityError("str.format is not available in play templates; use {{ … }}")


class PlayEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        # Only what a message needs: no range (loops come from the context), no lipsum.
        self.globals = {"dict": dict, "namespace": BoundedNamespace}
        self.filters = {
            name: budgets.guard_filter(func)
            for name, func in FILTERS.items()
            if name not in REMOVED_FILTERS
        }
        self.filters["replace"] = budgets.guard_filter(budgets.replace)
        self.filters["batch"] = budgets.guard_filter(budgets.batch)
        self.filters["join"] = budgets.guard_filter(budgets.join)
        self.filters["wordwrap"] = budgets.guard_filter(budgets.wordwrap)
        self.filters["tojson"] = budgets.guard_filter(budgets.tojson)
        self.filters["_written"] = budgets.written
        self.filters["_steps"] = budgets.loop_steps
        self.filters["_size"] = budgets.size_check

    def _parse(self, source, name, filename):
        return _Guard().visit(super()._parse(source, name, filename))

    def is_safe_attribute(self, obj, attr, value) -> bool:
        if isinstance(obj, str) and attr in UNSAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value):
        if (
            isinstance(value, (types.MethodType, types.BuiltinMethodType))
            and value.__name__ in ("format", "format_map")
            and isinstance(value.__self__, str)
        ):
            return _refuse_format
        return None

    def call(self, context, obj, /, *args, **kwargs):
        budgets.step()
        return budgets.sized(super().call(context, obj, *args, **kwargs))

    def call_binop(self, context, operator, left, right):
        budgets.step()
        numbers = (int, float)
        if operator == "%" and not (isinstance(left, numbers) and isinstance(right, numbers)):
            raise SecurityError("% is only for numbers in play templates; use {{ … }}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and not isinstance(times, bool):
                    if isinstance(seq, str) and len(seq) * max(times, 0) > MAX_TEXT:
                        raise budgets.too_big()
                    if (
                        isinstance(seq, (list, tuple))
                        and budgets.weight(seq) * max(times, 0) > MAX_WEIGHT
                    ):
                        raise budgets.too_heavy()
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise TemplateBudgetError("the template builds a number too large to show")
        if operator == "**" and isinstance(right, numbers):
            base_bits = left.bit_length() if isinstance(left, int) else 64
            if right > 0 and base_bits * right > MAX_INT_BITS:
                raise TemplateBudgetError("the template builds a number too large to show")
        if operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                if len(left) + len(right) > MAX_TEXT:
                    raise budgets.too_big()
            elif (
                isinstance(left, (list, tuple))
                and isinstance(right, (list, tuple))
                and budgets.weight(left) + budgets.weight(right) > MAX_WEIGHT
            ):
                raise budgets.too_heavy()
        return budgets.sized(super().call_binop(context, operator, left, right))


ENVIRONMENT = PlayEnvironment()


def _line(exc: BaseException) -> int | None:
    """The template line an error happened on: Jinja rewrites tracebacks so that the
    template's frames carry its file name and line numbers."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _error(kind: str, exc: BaseException, message: str | None = None) -> str:
    line = _line(exc)
    where = f" on line {line}" if line else ""
    return f"{kind}{where}: {message or exc}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return _error("Syntax error", exc, exc.message)
    if isinstance(exc, TemplateBudgetError):
        return _error("Limit reached", exc)
    if isinstance(exc, SecurityError):
        return _error("Not allowed", exc)
    if isinstance(exc, UndefinedError):
        return _error("Undefined", exc, f"{exc.message} (variables: {', '.join(VARIABLES)})")
    if isinstance(exc, TemplateError):
        return _error("Template error", exc, exc.message)
    return _error("The template failed", exc, f"{exc.__class__.__name__}: {exc}")


@functools.lru_cache(maxsize=64)
def _compile(template: str):
    """Compiled templates are immutable and thread-safe, so the few in use are kept."""
    code = ENVIRONMENT.compile(template, filename=TEMPLATE_NAME)
    return ENVIRONMENT.template_class.from_code(ENVIRONMENT, code, ENVIRONMENT.make_globals(None))


def play_template_check(template: str) -> str:
    """Why a template cannot be saved ("" when it can): too long, a syntax error, or a
    variable that is not in the message's context."""
    if len(template) > MAX_TEMPLATE_CHARS:
        return f"The template is {len(template):,} characters; at most {MAX_TEMPLATE_CHARS:,}."
    token = budgets.current.set(budgets.Budget())
    try:
        ast = ENVIRONMENT.parse(template, filename=TEMPLATE_NAME)
        ENVIRONMENT.compile(ast, filename=TEMPLATE_NAME)
    except Exception as exc:  # any failure is the admin's to read
        return _describe(exc)
    finally:
        budgets.current.reset(token)
    unknown = sorted(find_undeclared_variables(ast) - set(VARIABLES))
    if unknown:
        return f"Unknown variable “{unknown[0]}”: a play template may use {', '.join(VARIABLES)}."
    return ""


def play_message_render(*, template: str, context: dict) -> tuple[str, str]:
    """(text, error): the filled message, or "" and why it could not be filled. Never
    raises, whatever the template holds."""
    if len(template) > MAX_TEMPLATE_CHARS:
        return "", f"The template is {len(template):,} characters; at most {MAX_TEMPLATE_CHARS:,}."
    token = budgets.current.set(budgets.Budget())
    try:
        compiled = _compile(template)
        budgets.current.set(
            budgets.Budget()
        )  # compiling folds constants through the guarded filters
        parts, size = [], 0
        for part in compiled.generate({name: context.get(name, {}) for name in VARIABLES}):
            size += len(part)
            if size > MAX_TEXT:
                raise budgets.too_big()
            parts.append(part)
        return "".join(parts).strip(), ""
    except Exception as exc:  # a bad template is an error message, never a 500
        error = _describe(exc)
        logger.info("play template failed: %s", error)
        return "", error
    finally:
        budgets.current.reset(token)

"""Weight suggestions: what the outcomes say each rule of the active set is worth.

Data: the leakage-free outcome dataset of signal discovery (``discovery``): accounts
that won a Deal of either motion (1) against accounts with no Deal at all (0), their
signals taken before the outcome.

Model: a logistic regression (scikit-learn) on every analysed signal. Each signal is
log-scaled (``sign(x)·log(1 + |x|)``, so ARR and employees do not drown the rest) and
standardised; classes are balanced (wins are rare); the L2 penalty is firm (``C`` =
0.1) because wins are few and several signals move together (users in 7 and 30 days,
ARR potential and employees), which a weak penalty lets cancel each other out; the seed
is fixed, so the same outcomes always give the same suggestions. Quality is measured on
a held-out quarter (stratified): the AUC, and the conversion rate of each tenth of those
accounts ranked by the model (decile 1 = highest) against the base rate — the lift. The
coefficients that make the suggestions come from a second fit on all outcomes.

Rule (how a coefficient becomes points): a signal's coefficient ``β`` is the change in
the log-odds of buying for one standard deviation more of it, so ``exp(β)`` is the odds
ratio per standard deviation. For each rule of the active set:

- its direction ``d`` is +1 when it matches high values (≥, >, = a positive value), −1
  when it matches low values (≤, <, = 0); a "between" rule has no direction and keeps
  its points;
- its factor is ``f = clamp(exp(d·β), ½, 2)``: how much more (or less) likely buyers
  are on the side of the threshold the rule rewards;
- a rule that adds points gets ``round(points × f)``, a penalty (negative points) gets
  ``round(points ÷ f)`` (a penalty on something buyers do shrinks);
- the sign and the dimension never change, the result stays within −100..+100 and is
  never 0 (at least ±1), so one round of suggestions moves each rule at most ×2 or ÷2;
- a rule on a signal that had one value for every account keeps its points (the data
  says nothing about it).

Below ``MIN_OUTCOMES`` outcomes or ``MIN_WINS`` wins (or as few accounts without a
deal) nothing is suggested, and the page says why, with the counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction

from pls_portal.models import User
from scoring.engine import rule_condition
from scoring.models import Operator, RuleSet
from scoring.services.discovery import ANALYSED_SIGNALS, OutcomeDataset, outcome_dataset_cached
from scoring.services.rulesets import rule_save, rule_set_clone, rule_set_update
from scoring.services.run import rule_set_active, rule_specs
from scoring.signals import SIGNALS_BY_NAME, signal_label

MIN_OUTCOMES = 100
MIN_WINS = 20
TEST_SHARE = 0.25
RANDOM_STATE = 13
PENALTY_C = 0.1
FACTOR_MIN, FACTOR_MAX = 0.5, 2.0
POINTS_MAX = 100
DECILES = 10


class SuggestionsNotReady(Exception):
    """Too few outcomes to suggest anything; the message says how many there are."""


@dataclass(frozen=True)
class SignalWeight:
    signal: str
    label: str
    coefficient: float  # log-odds per standard deviation of the log-scaled signal

    @property
    def odds_ratio(self) -> float:
        return math.exp(self.coefficient)


@dataclass(frozen=True)
class DecileLift:
    decile: int  # 1 = the tenth the model ranks highest
    accounts: int
    converted: int
    base_rate: float

    @property
    def rate(self) -> float:
        return self.converted / self.accounts if self.accounts else 0.0

    @property
    def rate_pct(self) -> float:
        return self.rate * 100

    @property
    def lift(self) -> float | None:
        return self.rate / self.base_rate if self.base_rate else None


@dataclass(frozen=True)
class RuleSuggestion:
    rule_id: int
    signal: str
    label: str
    condition: str
    dimension: str
    points: int
    suggested: int
    factor: float | None  # None: the rule keeps its points (see ``why``)
    why: str

    @property
    def changed(self) -> bool:
        return self.suggested != self.points


@dataclass(frozen=True)
class ModelFit:
    auc: float | None
    train: int
    test: int
    test_wins: int
    deciles: list[DecileLift]
    weights: list[SignalWeight]  # from the fit on all outcomes, strongest first

    @property
    def base_pct(self) -> float:
        return self.test_wins * 100 / self.test if self.test else 0.0


@dataclass
class Suggestions:
    outcomes: int
    wins: int
    no_deal: int
    left_out: int
    ready: bool
    reason: str = ""
    rule_set: RuleSet | None = None
    fit: ModelFit | None = None
    rules: list[RuleSuggestion] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(1 for r in self.rules if r.changed)


def readiness(*, outcomes: int, wins: int) -> str:
    """Why suggestions cannot be made yet, or "" when they can."""
    no_deal = outcomes - wins
    if outcomes >= MIN_OUTCOMES and wins >= MIN_WINS and no_deal >= MIN_WINS:
        return ""
    return (
        f"Suggestions need at least {MIN_OUTCOMES} outcomes with at least {MIN_WINS} wins "
        f"(and {MIN_WINS} accounts without a deal); there are {outcomes} outcomes so far: "
        f"{wins} won, {no_deal} without a deal."
    )


def log_scale(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _model():
    # scikit-learn takes seconds to import: only a fit pays for it, not every process
    # that loads the URLconf.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        LogisticRegression(
            C=PENALTY_C, class_weight="balanced", random_state=RANDOM_STATE, max_iter=2000
        ),
    )


def decile_lift(probabilities: np.ndarray, outcomes: np.ndarray) -> list[DecileLift]:
    """Conversion of each tenth of the accounts, ranked by the model, highest first."""
    base = float(outcomes.mean()) if len(outcomes) else 0.0
    order = np.argsort(-probabilities, kind="stable")
    return [
        DecileLift(
            decile=i + 1,
            accounts=len(part),
            converted=int(outcomes[part].sum()),
            base_rate=base,
        )
        for i, part in enumerate(np.array_split(order, DECILES))
        if len(part)
    ]


def model_fit(features: np.ndarray, outcomes: np.ndarray, names: list[str]) -> ModelFit:
    """Held-out AUC and lift, and the coefficients of a fit on every outcome."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x = log_scale(features)
    x_train, x_test, y_train, y_test = train_test_split(
        x, outcomes, test_size=TEST_SHARE, stratify=outcomes, random_state=RANDOM_STATE
    )
    held_out = _model().fit(x_train, y_train)
    probabilities = held_out.predict_proba(x_test)[:, 1]
    auc = float(roc_auc_score(y_test, probabilities)) if len(set(y_test.tolist())) > 1 else None
    full = _model().fit(x, outcomes)
    coefficients = full[-1].coef_[0]
    weights = sorted(
        (
            SignalWeight(signal=n, label=signal_label(n), coefficient=float(c))
            for n, c in zip(names, coefficients, strict=True)
        ),
        key=lambda w: -abs(w.coefficient),
    )
    return ModelFit(
        auc=auc,
        train=len(y_train),
        test=len(y_test),
        test_wins=int(y_test.sum()),
        deciles=decile_lift(probabilities, y_test),
        weights=weights,
    )


def rule_direction(operator: str, threshold: float) -> int:
    """+1: the rule matches high values; −1: low values; 0: neither (between)."""
    if operator in (Operator.GTE, Operator.GT):
        return 1
    if operator in (Operator.LTE, Operator.LT):
        return -1
    if operator == Operator.EQ:
        return 1 if threshold > 0 else -1
    return 0


def points_suggest(*, points: int, direction: int, coefficient: float) -> tuple[int, float]:
    """The module's rule: (suggested points, factor)."""
    factor = min(max(math.exp(direction * coefficient), FACTOR_MIN), FACTOR_MAX)
    raw = points * factor if points > 0 else points / factor
    suggested = max(-POINTS_MAX, min(POINTS_MAX, round(raw)))
    if suggested == 0:
        suggested = 1 if points > 0 else -1
    return suggested, factor


def rules_suggest(
    rules, weights: dict[str, float], *, constant: frozenset[str] = frozenset()
) -> list[RuleSuggestion]:
    """Suggested points for each rule (``RuleSpec``s) from the signals' coefficients;
    ``constant`` signals had one value for every account, so the data says nothing."""
    suggestions = []
    for rule in rules:
        signal = SIGNALS_BY_NAME.get(rule.signal)
        common = {
            "rule_id": rule.id,
            "signal": rule.signal,
            "label": rule.label or signal_label(rule.signal),
            "condition": f"{signal_label(rule.signal)} {rule_condition(rule)}",
            "dimension": rule.dimension,
            "points": rule.points,
        }
        direction = rule_direction(rule.operator, rule.threshold)
        if rule.signal not in weights:
            why = "not in the model: " + (
                "it would leak the outcome" if signal else "unknown signal"
            )
            suggestions.append(
                RuleSuggestion(**common, suggested=rule.points, factor=None, why=why)
            )
            continue
        if rule.signal in constant:
            suggestions.append(
                RuleSuggestion(
                    **common,
                    suggested=rule.points,
                    factor=None,
                    why="every account with an outcome has the same value: nothing to learn",
                )
            )
            continue
        if direction == 0:
            suggestions.append(
                RuleSuggestion(
                    **common, suggested=rule.points, factor=None, why="a range has no direction"
                )
            )
            continue
        suggested, factor = points_suggest(
            points=rule.points, direction=direction, coefficient=weights[rule.signal]
        )
        side = "higher" if direction > 0 else "lower"
        odds = math.exp(direction * weights[rule.signal])
        why = f"odds of buying ×{odds:.2f} per standard deviation {side}"
        if factor != odds:
            why += f" (capped at ×{factor:g})"
        suggestions.append(RuleSuggestion(**common, suggested=suggested, factor=factor, why=why))
    return suggestions


def suggestions_for(*, dataset: OutcomeDataset | None = None) -> Suggestions:
    """Suggested points for every rule of the active rule set, or why there are none."""
    dataset = dataset if dataset is not None else outcome_dataset_cached()
    result = Suggestions(
        outcomes=dataset.outcomes,
        wins=dataset.wins,
        no_deal=dataset.no_deal,
        left_out=dataset.left_out,
        ready=False,
    )
    result.reason = readiness(outcomes=dataset.outcomes, wins=dataset.wins)
    if result.reason:
        return result
    result.rule_set = rule_set_active()
    names = [s.name for s in ANALYSED_SIGNALS]
    features = dataset.matrix(names)
    result.fit = model_fit(features, dataset.labels(), names)
    weights = {w.signal: w.coefficient for w in result.fit.weights}
    spreads = np.ptp(features, axis=0)
    constant = frozenset(n for n, spread in zip(names, spreads, strict=True) if not spread)
    result.rules = rules_suggest(rule_specs(result.rule_set), weights, constant=constant)
    result.ready = True
    return result


def suggestions_apply(*, user: User, dataset: OutcomeDataset | None = None) -> RuleSet:
    """Clone the active rule set into a draft with the suggested points; every changed
    rule goes through ``rule_save``, so the audit log shows each change."""
    result = suggestions_for(dataset=dataset)
    if not result.ready:
        raise SuggestionsNotReady(result.reason)
    source = result.rule_set
    with transaction.atomic():
        draft = rule_set_clone(
            rule_set_id=source.pk, user=user, name=f"Suggested weights from v{source.version}"
        )
        # The clone copies the rules in the source's order (position, id).
        copies = dict(zip(rule_set_order(source), rule_set_order(draft), strict=True))
        for rule in result.rules:
            if rule.changed:
                rule_save(
                    rule_set_id=draft.pk,
                    user=user,
                    rule_id=copies[rule.rule_id],
                    points=rule.suggested,
                )
        auc = f"{result.fit.auc:.2f}" if result.fit.auc is not None else "n/a"
        rule_set_update(
            rule_set_id=draft.pk,
            user=user,
            description=(
                f"Points suggested from {result.outcomes} outcomes ({result.wins} won, "
                f"{result.no_deal} without a deal), held-out AUC {auc}; "
                f"{result.changed} rule(s) changed from v{source.version}."
            ),
        )
    return draft


def rule_set_order(rule_set: RuleSet) -> list[int]:
    return list(rule_set.rules.order_by("position", "id").values_list("id", flat=True))

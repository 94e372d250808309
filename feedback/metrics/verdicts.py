"""Band verdicts, pure: each metric's value read against the seeds' healthy band."""

from __future__ import annotations

from decimal import Decimal

from feedback.metrics.base import BAD, GOOD, INFO, NONE, NOT_ENOUGH, WARN, Verdict


def pql_to_close_verdict(rate: float | None) -> Verdict:
    """Seed 003: 15–30 % is strong; below 10 % the definition is too loose, above 40 %
    too tight."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No PQL items were created in this window.")
    if rate < 10:
        return Verdict(
            BAD,
            "Rules too loose: tighten the PQL definition",
            "Below 10 %, your PQL definition is too broad: reps spend time on accounts that "
            "are not ready. Raise the threshold or require more usage before an account "
            "becomes a PQL.",
        )
    if rate > 40:
        return Verdict(
            BAD,
            "Too tight: loosen it",
            "When sales closes 40 %+ of PQLs, the bar is likely set too high and you are "
            "missing PQLs: loosen the definition.",
        )
    if rate < 15:
        return Verdict(WARN, "Below the 15–30 % band", "Close to too loose (below 10 %).")
    if rate > 30:
        return Verdict(WARN, "Above the 15–30 % band", "Close to too tight (above 40 %).")
    return Verdict(GOOD, "Strong (15–30 %)")


def sales_share_verdict(share: float | None) -> Verdict:
    """Seed 003: mature PLS companies target 40–60 % sales-assisted revenue; above 70 %
    self-serve is being cannibalised."""
    if share is None:
        return Verdict(NONE, NOT_ENOUGH, "No new revenue was won in this window.")
    if share > 70:
        return Verdict(
            BAD,
            "Sales may be cannibalising self-serve",
            "Above 70 % sales-assisted, self-serve is being cannibalised: sales may be "
            "claiming credit for accounts that would have self-served, and you pay "
            "commissions on revenue you would have got for free.",
        )
    if share > 60:
        return Verdict(
            WARN, "Above the 40–60 % target", "Close to cannibalising self-serve (above 70 %)."
        )
    if share < 40:
        return Verdict(
            INFO,
            "Below the 40–60 % target",
            "Most mature PLS companies take 40–60 % of new revenue through sales.",
        )
    return Verdict(GOOD, "In the 40–60 % target")


def deal_size_verdict(multiple: float | None) -> Verdict:
    """Seed 003: sales-assisted deals should be 3–5× self-serve ones."""
    if multiple is None:
        return Verdict(NONE, NOT_ENOUGH, "It needs won new deals of both motions in this window.")
    if multiple < 3:
        return Verdict(
            BAD,
            "Sales-assisted deals are less than 3× self-serve",
            "If deal sizes are similar, the sales team is working deals that do not need sales.",
        )
    if multiple > 5:
        return Verdict(INFO, "Above the 3–5× band")
    return Verdict(GOOD, "In the 3–5× band")


def time_to_close_verdict(median_days: float | None) -> Verdict:
    """Seed 003: PQL trigger to close in 14–30 days; 60–90 days means the PQLs are not
    ready or the sales process adds friction."""
    if median_days is None:
        return Verdict(NONE, NOT_ENOUGH, "No PQL was won in this window.")
    if median_days >= 60:
        return Verdict(
            BAD,
            "Stretching to 60+ days",
            "The PQLs are not ready, or the sales process is adding friction.",
        )
    if median_days > 30:
        return Verdict(
            WARN,
            "Slower than 14–30 days",
            "If it stretches to 60–90 days, the PQLs are not ready or the sales process "
            "adds friction.",
        )
    if median_days < 14:
        return Verdict(INFO, "Faster than the 14–30 day band")
    return Verdict(GOOD, "In the 14–30 day band")


def pipeline_verdict(share: float | None) -> Verdict:
    """Seed 003: 60–80 % of pipeline should be product-sourced."""
    if share is None:
        return Verdict(NONE, NOT_ENOUGH, "No sales pipeline was opened in this window.")
    if share < 60:
        return Verdict(
            BAD,
            "Less than 60 % from product",
            "If the sales team spends most of its time on outbound, you are running "
            "traditional sales with a PLG label.",
        )
    if share > 80:
        return Verdict(INFO, "Above the 60–80 % band")
    return Verdict(GOOD, "In the 60–80 % band")


def cannibalisation_verdict(rate: float | None) -> Verdict:
    """Seed 003: as low as possible; protect self-serve with policy."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "Sales closed no new account in this window.")
    if rate > 0:
        return Verdict(
            WARN,
            "Sales closed accounts that fit self-serve",
            "Protect self-serve with policy: accounts below the ARR floor do not get a sales "
            "touch. Period. Never interrupt a converting account.",
        )
    return Verdict(GOOD, "None: self-serve is protected")


def freemium_verdict(rate: float | None) -> Verdict:
    """Seed 004: freemium converts at about 5 %."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No free account in this window.")
    if rate < 5:
        return Verdict(WARN, "Below the ≈5 % freemium benchmark")
    return Verdict(GOOD, "At or above the ≈5 % freemium benchmark")


def trial_verdict(rate: float | None) -> Verdict:
    """Seed 004: trials convert at 10–15 %."""
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No trial account in this window.")
    if rate < 10:
        return Verdict(WARN, "Below the 10–15 % trial benchmark")
    if rate > 15:
        return Verdict(GOOD, "Above the 10–15 % trial benchmark")
    return Verdict(GOOD, "In the 10–15 % trial benchmark")


def pql_volume_verdict(per_ae_month: float | None) -> Verdict:
    """Seed 003: 30–50 PQLs a month fill one AE; about 10 good PQLs a week."""
    if per_ae_month is None:
        return Verdict(NONE, NOT_ENOUGH, "There is no active AE to compare with.")
    if per_ae_month < 30:
        return Verdict(
            BAD,
            "Not enough PQLs to fill an AE",
            "An AE without enough PQLs to fill the pipeline starts doing outbound. Wait "
            "until there are 30–50 PQLs a month per AE before adding AEs.",
        )
    if per_ae_month > 50:
        return Verdict(
            WARN,
            "More PQLs than an AE can work",
            "It is better to have 10 high-quality PQLs per week than 100 weak ones: "
            "start conservative.",
        )
    return Verdict(GOOD, "Fills an AE (30–50 a month)")


def ceiling_verdict(monthly: Decimal | None) -> Verdict:
    """Seed 003: self-serve deal size commonly plateaus at $500–2,000 a month."""
    if monthly is None:
        return Verdict(NONE, NOT_ENOUGH, "No self-serve purchase in this window.")
    if 500 <= monthly <= 2000:
        return Verdict(
            INFO,
            "In the common ceiling range ($500–2,000 a month)",
            "If the monthly line is flat, that is your self-serve ceiling: PLS is how you "
            "break through it.",
        )
    return Verdict(
        INFO,
        "Trend, no band",
        "Watch the line: where it plateaus is your self-serve ceiling.",
    )


def activation_verdict(rate: float | None, *, has_milestone: bool = True) -> Verdict:
    """Seed 000 gives no number, only why it matters."""
    if not has_milestone:
        return Verdict(
            NONE,
            NOT_ENOUGH,
            "The tracking plan flags no milestone as activation (Tracking plan → flag "
            "“Activation milestone”).",
        )
    if rate is None:
        return Verdict(NONE, NOT_ENOUGH, "No new account in this window.")
    return Verdict(
        INFO,
        "Trend, no band",
        "Users who don't reach the aha moment never become PQLs worth pursuing.",
    )

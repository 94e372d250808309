"""On-commit callbacks as tests count them."""


def work_sent(callbacks: list) -> list:
    """The callbacks that send work (tasks, jobs), without the cache generation's bump
    that any save of a tracking plan entry, plan, rule or play also leaves
    (pls_portal.cache)."""
    return [c for c in callbacks if getattr(c, "__module__", "") != "pls_portal.cache"]

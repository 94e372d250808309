from django.conf import settings

from .navigation import nav_for


def navigation(request):
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    current = f"{match.namespace}:{match.url_name}" if match and match.namespace else None
    return {
        "nav_items": nav_for(user) if user is not None else [],
        "nav_current": current or (match.url_name if match else None),
        "currency": settings.PLS_CURRENCY,
    }

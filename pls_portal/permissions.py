"""Who may do what: one helper per role, and the decorators every view uses.

Each decorated view carries ``allowed_roles`` so navigation and the role × URL matrix
test read permissions from the views themselves instead of a second list.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect

from .models import RepType, Role

ALL_ROLES = frozenset(Role)


def _role(user) -> str | None:
    return getattr(user, "role", None) if user.is_authenticated and user.is_active else None


def is_rep(user) -> bool:
    return _role(user) == Role.REP


def is_ae(user) -> bool:
    return is_rep(user) and user.rep_type == RepType.AE


def is_sdr(user) -> bool:
    return is_rep(user) and user.rep_type == RepType.SDR


def is_pm(user) -> bool:
    return _role(user) == Role.PM


def is_admin(user) -> bool:
    return _role(user) == Role.ADMIN


def role_required(*roles: Role) -> Callable:
    """Let only the given roles in: anonymous users go to the login page (a full-page
    redirect for htmx requests too), other roles get 403."""
    allowed = frozenset(roles)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    return HttpResponseClientRedirect(_login_url(request))
                return redirect_to_login(request.get_full_path())
            if _role(request.user) not in allowed:
                raise PermissionDenied("Your role cannot open this page.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = allowed
        return wrapped

    return decorator


def _login_url(request: HttpRequest) -> str:
    response = redirect_to_login(request.headers.get("HX-Current-URL") or request.get_full_path())
    return response["Location"]


# Reps' pages; admins see and may act on every pool.
rep_required = role_required(Role.REP, Role.ADMIN)
# PM pages (reports, metrics, drafting rules); admins too.
pm_required = role_required(Role.PM, Role.ADMIN)
admin_required = role_required(Role.ADMIN)
# Any signed-in staff member (their own jobs, for instance).
staff_required = role_required(*ALL_ROLES)


def allowed_roles(view: Callable) -> frozenset[str] | None:
    """The roles a view admits, or None for a public view."""
    return getattr(view, "allowed_roles", None)


# Where each role lands after login.
ROLE_HOME = {
    Role.REP: "dossiers:queue",
    Role.PM: "feedback:report",
    Role.ADMIN: "scoring:rules",
}


def client_ip_address(request: HttpRequest) -> str | None:
    """The client's address for the login lockout (django-axes): behind
    ``PLS_PROXY_COUNT`` proxies, the Nth address of X-Forwarded-For from the right (each
    proxy appends the address it saw; anything further left came from the client and may
    be forged); with no proxy, or a header too short to be the proxies', REMOTE_ADDR."""
    count = settings.PLS_PROXY_COUNT
    if count:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        forwarded = [part.strip() for part in header.split(",") if part.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")

"""Small helpers shared by the dashboard's settings pages."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def company_admin_required(view):
    """Owners and admins of the company whose host this is."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.user.is_company_admin:
            raise PermissionDenied("Only the company's owners and admins can change this.")
        return view(request, *args, **kwargs)

    return guarded


def form_apply(form, save) -> bool:
    """Validate a form and call its service with it; a service's error is shown on the form."""
    from core.errors import OmniDeskError

    if not form.is_valid():
        return False
    try:
        save(form)
    except OmniDeskError as exc:
        form.add_error(None, exc.message)
        return False
    return True

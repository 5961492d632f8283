"""Company settings for owners and admins: users (invite with a set-password link), departments, quick
replies. Plus the set-password page an invitation links to."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as accounts
from accounts.models import Department, User
from core.errors import OmniDeskError
from inbox.models import QuickReply
from inbox.quick_replies import quick_reply_delete, quick_reply_save


def admins_only(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_company_admin:
            return render(request, "dashboard/forbidden.html", {"section": "settings"}, status=403)
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _ids(values) -> list[int]:
    return [int(value) for value in values if str(value).isdigit()]


@admins_only
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            user = accounts.user_invite(
                email=request.POST.get("email", ""),
                name=request.POST.get("name", "").strip()[:120],
                role=request.POST.get("role", "agent"),
                department_ids=_ids(request.POST.getlist("departments")),
                base_url=f"{request.scheme}://{request.get_host()}",
            )
        except OmniDeskError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{user.email} was invited: the email has a link to set a password.")
        return redirect("/settings/users/")
    context = {
        "section": "settings",
        "tab": "users",
        "users": User.objects.prefetch_related("departments").order_by("email"),
        "departments": Department.objects.all(),
        "roles": [(value, label) for value, label in User.Role.choices if value != User.Role.OWNER],
    }
    return render(request, "dashboard/settings/users.html", context)


@admins_only
@require_POST
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    try:
        accounts.user_update(
            user=user,
            acting_user=request.user,
            role=request.POST.get("role") or None,
            is_active=request.POST.get("is_active") == "on",
            department_ids=_ids(request.POST.getlist("departments")),
        )
    except OmniDeskError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.email} was updated.")
    return redirect("/settings/users/")


@admins_only
@require_http_methods(["GET", "POST"])
def departments(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:80]
        if not name or Department.objects.filter(name=name).exists():
            messages.error(request, "Give the department a new, unique name.")
        else:
            accounts.department_create(name=name, member_ids=_ids(request.POST.getlist("members")))
            messages.success(request, f"{name} was created.")
        return redirect("/settings/departments/")
    context = {
        "section": "settings",
        "tab": "departments",
        "departments": Department.objects.prefetch_related("members"),
        "users": User.objects.filter(is_active=True),
    }
    return render(request, "dashboard/settings/departments.html", context)


@admins_only
@require_POST
def department_edit(request: HttpRequest, department_id: int) -> HttpResponse:
    department = Department.objects.filter(pk=department_id).first()
    if department is None:
        raise Http404("No such department.")
    if request.POST.get("delete"):
        accounts.department_delete(department=department)
        messages.success(request, f"{department.name} was deleted; its conversations have no department now.")
        return redirect("/settings/departments/")
    try:
        accounts.department_update(
            department=department,
            name=request.POST.get("name", ""),
            member_ids=_ids(request.POST.getlist("members")),
        )
    except OmniDeskError as exc:
        messages.error(request, exc.message)
    return redirect("/settings/departments/")


@admins_only
@require_http_methods(["GET", "POST"])
def quick_replies(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        existing = QuickReply.objects.filter(pk=request.POST.get("id") or 0).first()
        try:
            if existing is not None and request.POST.get("delete"):
                quick_reply_delete(quick_reply=existing)
            else:
                quick_reply_save(
                    shortcut=request.POST.get("shortcut", ""),
                    body=request.POST.get("body", ""),
                    quick_reply=existing,
                )
        except OmniDeskError as exc:
            messages.error(request, exc.message)
        return redirect("/settings/quick-replies/")
    context = {"section": "settings", "tab": "quick_replies", "quick_replies": QuickReply.objects.all()}
    return render(request, "dashboard/settings/quick_replies.html", context)


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The page an invitation links to: the new staff member chooses a password, then signs in."""

    template_name = "dashboard/settings/set_password.html"
    success_url = "/login/"
    post_reset_login = False

    def form_valid(self, form):
        messages.success(self.request, "Your password is set: sign in.")
        return super().form_valid(form)

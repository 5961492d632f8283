from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.shortcuts import render

from accounts.forms import LoginForm
from accounts.services import session_bind_company


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        session_bind_company(request=self.request)
        return response


class LogoutView(auth_views.LogoutView):
    next_page = "/login/"


@login_required
def home(request):
    from accounts.models import Department, User

    context = {
        "company": request.tenant,
        "seats_used": User.objects.filter(is_active=True).count(),
        "departments": Department.objects.filter(members=request.user),
        "schema": connection.schema_name,
    }
    return render(request, "dashboard/home.html", context)

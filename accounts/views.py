from django.contrib.auth import views as auth_views

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

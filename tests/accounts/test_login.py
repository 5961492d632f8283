from django.test import override_settings
from django_tenants.utils import schema_context

from tests.factories import UserFactory
from tests.helpers import host_client, login, unique


def test_owner_signs_in_on_own_host(alpha):
    client = host_client(alpha.host)
    response = login(client, alpha.host, alpha.owner_email)
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200 and "Alpha Ltd" in page.content.decode()


def test_owner_cannot_sign_in_on_another_companys_host(alpha, beta):
    client = host_client(beta.host)
    response = login(client, beta.host, alpha.owner_email)
    assert response.status_code == 200
    assert "Email or password is incorrect." in response.content.decode()
    assert client.get("/").status_code == 302


def test_session_cookie_of_one_company_is_refused_on_another(alpha, beta):
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    assert client.get("/", HTTP_HOST=alpha.host).status_code == 200

    on_beta = client.get("/", HTTP_HOST=beta.host)
    assert on_beta.status_code == 302 and on_beta["Location"].startswith("/login/")
    assert client.get("/api/v1/me", HTTP_HOST=beta.host).status_code == 401


def test_dashboard_requires_sign_in(alpha):
    response = host_client(alpha.host).get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"


@override_settings(LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_SECONDS=120)
def test_repeated_failures_lock_the_account_for_a_while(alpha, beta):
    email = f"{unique('agent')}@alpha.test"
    with schema_context("alpha"):
        UserFactory(email=email)
    with schema_context("beta"):
        UserFactory(email=email)
    client = host_client(alpha.host)

    for _ in range(2):
        assert "incorrect" in login(client, alpha.host, email, "wrong-password").content.decode()
    locked = login(client, alpha.host, email, "wrong-password").content.decode()
    assert "Too many failed sign-in attempts" in locked

    # even the right password is refused while locked, and the message says for how long
    refused = login(client, alpha.host, email).content.decode()
    assert "Try again in 2 minute(s)" in refused
    # the same email in another company is not affected
    assert login(host_client(beta.host), beta.host, email).status_code == 302


def test_logout_ends_the_session(alpha):
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    client.post("/logout/", HTTP_HOST=alpha.host)
    assert client.get("/", HTTP_HOST=alpha.host).status_code == 302

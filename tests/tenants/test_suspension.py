from tenants.models import Company
from tenants.services import company_set_status
from tests.helpers import host_client, login


def test_suspended_company_dashboard_and_api_say_so(alpha):
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    company_set_status(company=alpha.company, status=Company.Status.SUSPENDED)

    page = client.get("/")
    assert page.status_code == 403
    assert "Alpha Ltd is suspended" in page.content.decode()

    api = client.get("/api/v1/me")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "company_suspended"

    login_page = host_client(alpha.host).get("/login/")
    assert login_page.status_code == 403 and "suspended" in login_page.content.decode()


def test_suspended_company_still_accepts_webhooks_and_health(alpha):
    company_set_status(company=alpha.company, status=Company.Status.SUSPENDED)
    client = host_client(alpha.host)
    # webhook URLs are not blocked by suspension (their views arrive with the messaging core)
    assert client.post("/webhooks/anything", data=b"{}", content_type="application/json").status_code == 404
    assert client.get("/health").status_code in (200, 503)


def test_other_companies_are_unaffected_and_reactivation_restores_access(alpha, beta):
    company_set_status(company=alpha.company, status=Company.Status.SUSPENDED)
    client = host_client(beta.host)
    login(client, beta.host, beta.owner_email)
    assert client.get("/").status_code == 200

    company_set_status(company=alpha.company, status=Company.Status.ACTIVE)
    alpha_client = host_client(alpha.host)
    login(alpha_client, alpha.host, alpha.owner_email)
    assert alpha_client.get("/").status_code == 200

from django_tenants.utils import schema_context, schema_exists

from accounts.models import User
from tenants.models import Company
from tests.helpers import PASSWORD, host_client, login

PLATFORM = "localhost"


def superadmin_client():
    client = host_client(PLATFORM)
    response = login(client, PLATFORM, "root@platform.test", path="/admin/login/?next=/admin/")
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def test_superadmin_sees_companies_with_domain_plan_and_seats(alpha, beta):
    page = superadmin_client().get("/admin/tenants/company/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "alpha.localhost" in html and "beta.localhost" in html and "1 / 25" in html
    assert "tenant_template" not in html


def test_superadmin_creates_a_company_through_the_admin(db):
    from tenants.models import Plan

    client = superadmin_client()
    response = client.post(
        "/admin/tenants/company/add/",
        {
            "name": "Zeta",
            "slug": "zeta",
            "plan": Plan.objects.get(code="pro").id,
            "timezone": "Europe/Lisbon",
            "owner_email": "owner@zeta.test",
            "owner_name": "Zed",
            "owner_password": PASSWORD,
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    company = Company.objects.get(schema_name="zeta")
    assert schema_exists("zeta") and company.get_primary_domain().domain == "zeta.localhost"
    with schema_context("zeta"):
        assert User.objects.get().email == "owner@zeta.test"


def test_admin_add_form_explains_a_taken_slug(alpha):
    from tenants.models import Plan

    response = superadmin_client().post(
        "/admin/tenants/company/add/",
        {
            "name": "Again",
            "slug": "alpha",
            "plan": Plan.objects.get(code="pro").id,
            "timezone": "UTC",
            "owner_email": "x@x.test",
            "owner_password": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "A company with this slug already exists." in response.content.decode()


def test_superadmin_suspends_and_reactivates(alpha):
    client = superadmin_client()
    url = "/admin/tenants/company/"
    client.post(url, {"action": "suspend", "_selected_action": [alpha.company.pk]})
    alpha.company.refresh_from_db()
    assert alpha.company.status == "suspended" and alpha.company.status_changed_at is not None

    client.post(url, {"action": "reactivate", "_selected_action": [alpha.company.pk]})
    alpha.company.refresh_from_db()
    assert alpha.company.status == "active"


def test_company_staff_cannot_use_the_operator_console(alpha):
    # the owner's credentials mean nothing on the platform host
    client = host_client(PLATFORM)
    login(client, PLATFORM, alpha.owner_email, path="/admin/login/?next=/admin/")
    assert client.get("/admin/tenants/company/").status_code == 302

    # an owner's session on their own host does not reach platform models either
    owner = host_client(alpha.host)
    login(owner, alpha.host, alpha.owner_email)
    assert owner.get("/admin/").status_code == 200
    assert owner.get("/admin/tenants/company/").status_code == 404
    owner.post("/admin/tenants/company/", {"action": "suspend", "_selected_action": [alpha.company.pk]})
    alpha.company.refresh_from_db()
    assert alpha.company.status == "active"


def test_agents_are_refused_by_the_company_admin(alpha):
    from tests.factories import UserFactory

    with schema_context("alpha"):
        UserFactory(email="agent-admin@alpha.test", role="agent")
    client = host_client(alpha.host)
    login(client, alpha.host, "agent-admin@alpha.test")
    assert client.get("/").status_code == 200
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_company_admin_manages_its_own_users_only(alpha, beta):
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    page = client.get("/admin/accounts/user/").content.decode()
    assert "owner@alpha.test" in page and "owner@beta.test" not in page

    response = client.post(
        "/admin/accounts/user/add/",
        {"email": "new-agent@alpha.test", "name": "New", "role": "agent", "password": PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context("alpha"):
        assert User.objects.filter(email="new-agent@alpha.test").exists()
    with schema_context("beta"):
        assert not User.objects.filter(email="new-agent@alpha.test").exists()

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from accounts.models import Department, User
from core.errors import ValidationFailed
from tenants.models import Company, Domain
from tenants.services import company_create
from tests.helpers import PASSWORD, host_client, login


def test_company_create_makes_schema_domain_owner_and_defaults(db):
    company = company_create(
        name="Gamma", slug="gamma", owner_email="Boss@Gamma.test", owner_password=PASSWORD, plan_code="free"
    )

    assert schema_exists("gamma")
    assert Domain.objects.get(tenant=company).domain == "gamma.localhost"
    assert company.plan.code == "free" and company.status == Company.Status.ACTIVE
    with schema_context("gamma"):
        owner = User.objects.get()
        assert (owner.email, owner.role) == ("boss@gamma.test", "owner")
        assert authenticate(username="boss@gamma.test", password=PASSWORD) == owner
        assert list(Department.objects.get(name="General").members.all()) == [owner]
        # cloned from the template: every tenant table is there
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'gamma'")
            assert cursor.fetchone()[0] > 5


def test_new_owner_can_sign_in_on_their_host(db):
    company_create(name="Delta", slug="delta", owner_email="owner@delta.test", owner_password=PASSWORD)
    client = host_client("delta.localhost")

    response = login(client, "delta.localhost", "owner@delta.test")

    assert response.status_code == 302 and response["Location"] == "/"
    assert "Delta" in client.get("/", HTTP_HOST="delta.localhost").content.decode()


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        ("alpha", "slug_taken"),
        ("Bad Slug", "invalid_slug"),
        ("public", "reserved_slug"),
        ("x", "invalid_slug"),
    ],
)
def test_company_create_refuses_bad_or_taken_slugs(alpha, slug, code):
    with pytest.raises(ValidationFailed) as error:
        company_create(name="X", slug=slug, owner_email="o@x.test", owner_password=PASSWORD)
    assert error.value.code == code


def test_create_tenant_command(db, capsys):
    call_command(
        "create_tenant",
        "--slug",
        "epsilon",
        "--name",
        "Epsilon",
        "--owner-email",
        "o@eps.test",
        "--owner-password",
        PASSWORD,
    )

    assert "epsilon.localhost" in capsys.readouterr().out
    assert Company.objects.filter(schema_name="epsilon", name="Epsilon").exists()


def test_unknown_host_gets_a_clear_404(db):
    response = host_client("nobody.localhost").get("/")
    assert response.status_code == 404
    assert "No company at this address" in response.content.decode()

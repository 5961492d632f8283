"""Owners and admins manage users (invite with a set-password link), departments and quick replies."""

from __future__ import annotations

import re

from django.core import mail
from django_tenants.utils import schema_context

from accounts.models import Department, User
from inbox.models import QuickReply
from tests.helpers import host_client, login, unique


def owner():
    with schema_context("alpha"):
        return User.objects.get(email="owner@alpha.test")


def test_invite_sets_a_password_through_the_emailed_link(world, as_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client = as_user(owner())
    email = unique("newbie") + "@alpha.test"
    response = client.post(
        "/settings/users/",
        {"email": email, "name": "Nina New", "role": "agent", "departments": [world.sales.id]},
    )
    assert response.status_code == 302
    with schema_context("alpha"):
        invited = User.objects.get(email=email)
        assert not invited.has_usable_password() and list(invited.departments.all()) == [world.sales]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [email]
    link = re.search(r"http://alpha\.localhost(/invite/\S+/)", mail.outbox[0].body).group(1)

    newcomer = host_client("alpha.localhost")
    form_page = newcomer.get(link, follow=True)
    assert b"Set your password" in form_page.content
    done = newcomer.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"new_password1": "a-Long-new-passw0rd", "new_password2": "a-Long-new-passw0rd"},
    )
    assert done.status_code == 302 and done["Location"] == "/login/"
    assert login(newcomer, "alpha.localhost", email, "a-Long-new-passw0rd").status_code == 302
    # the link works once
    assert b"already used" in host_client("alpha.localhost").get(link, follow=True).content


def test_roles_departments_and_quick_replies(world, as_user):
    client = as_user(owner())
    assert (
        client.post(f"/settings/users/{world.agent.id}", {"role": "manager", "is_active": "on"}).status_code
        == 302
    )
    with schema_context("alpha"):
        world.agent.refresh_from_db()
        assert world.agent.role == "manager" and world.agent.departments.count() == 0
    client.post(f"/settings/users/{owner().id}", {"role": "agent"})  # the owner cannot be changed
    assert owner().role == "owner"

    name = unique("Billing ")
    client.post("/settings/departments/", {"name": name, "members": [world.other_agent.id]})
    with schema_context("alpha"):
        billing = Department.objects.get(name=name)
        assert list(billing.members.all()) == [world.other_agent]
    client.post(f"/settings/departments/{billing.id}", {"name": name + " EU", "members": []})
    with schema_context("alpha"):
        billing.refresh_from_db()
        assert billing.name == name + " EU" and not billing.members.exists()

    client.post("/settings/quick-replies/", {"shortcut": "/Shipping Times", "body": "We ship in 2 days."})
    with schema_context("alpha"):
        reply = QuickReply.objects.get(shortcut="shipping-times")
    page = client.get(f"/?c={world.conversations['sales'].id}").content.decode()
    assert "shipping-times" in page  # offered in the composer
    client.post("/settings/quick-replies/", {"id": reply.id, "delete": "1"})
    with schema_context("alpha"):
        assert not QuickReply.objects.filter(pk=reply.pk).exists()


def test_agents_and_managers_cannot_open_settings(world, as_user):
    for user in (world.agent, world.manager):
        client = as_user(user)
        assert client.get("/settings/users/").status_code == 403
        assert client.post("/settings/users/", {"email": "x@alpha.test"}).status_code == 403
        assert client.post("/settings/quick-replies/", {"shortcut": "x", "body": "y"}).status_code == 403
    with schema_context("alpha"):
        assert not User.objects.filter(email="x@alpha.test").exists()


def test_another_companys_users_are_out_of_reach(world, beta):
    client = host_client("beta.localhost")
    login(client, "beta.localhost", "owner@beta.test")
    assert world.agent.email not in client.get("/settings/users/").content.decode()
    client.post(f"/settings/users/{world.agent.id}", {"role": "admin", "is_active": "on"})
    with schema_context("alpha"):
        world.agent.refresh_from_db()
        assert world.agent.role == "agent"

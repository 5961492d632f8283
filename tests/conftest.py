"""Test setup: the real PostgreSQL (embedded or DATABASE_URL) and Redis; two companies provisioned once
per session through the real service and reused by every test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from tests import helpers


@dataclass(frozen=True)
class TenantFixture:
    company: object
    host: str
    owner_email: str
    owner_password: str


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from accounts.models import User
    from tenants.services import company_create

    _assert_test_database()
    _flush_test_redis()
    with django_db_blocker.unblock():
        for slug, name in (("alpha", "Alpha Ltd"), ("beta", "Beta Inc")):
            company_create(
                name=name,
                slug=slug,
                owner_email=f"owner@{slug}.test",
                owner_password=helpers.PASSWORD,
                owner_name=f"{name} Owner",
                plan_code="pro",
            )
        with schema_context("public"):
            User.objects.create_superuser("root@platform.test", helpers.PASSWORD, name="Root")
    yield


def _assert_test_database() -> None:
    # pytest-django creates the test database only when a collected test asks for `db`; never write
    # the session's companies into the development database.
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), f"refusing to use non-test database {name!r}: select a `db` test too"


def _flush_test_redis() -> None:
    from django.conf import settings

    from core.redis import get_redis

    client = get_redis()
    number = client.connection_pool.connection_kwargs.get("db", 0)
    assert number != 0, f"refusing to flush Redis database 0 ({settings.REDIS_URL}): use `make test`"
    client.flushdb()


def _tenant(slug: str) -> TenantFixture:
    from tenants.models import Company

    company = Company.objects.get(schema_name=slug)
    return TenantFixture(
        company=company,
        host=f"{slug}.localhost",
        owner_email=f"owner@{slug}.test",
        owner_password=helpers.PASSWORD,
    )


@pytest.fixture
def alpha(db) -> TenantFixture:
    return _tenant("alpha")


@pytest.fixture
def beta(db) -> TenantFixture:
    return _tenant("beta")


@pytest.fixture(autouse=True)
def _public_schema_between_tests():
    yield
    connection.set_schema_to_public()


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Database access outside a test transaction, for code that runs on other threads or processes
    (WebSocket consumers, a live server). Whatever the test writes it must delete itself."""
    with django_db_blocker.unblock():
        yield
    connection.set_schema_to_public()

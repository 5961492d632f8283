from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from accounts.services import department_create, user_create
from core.errors import NotFound, ValidationFailed
from tenants.models import Company, Domain, Plan

SLUG_RE = re.compile(r"^[a-z][a-z0-9]{1,39}$")
RESERVED_SLUGS = {
    "public",
    "www",
    "admin",
    "api",
    "static",
    "media",
    "app",
    "mail",
    "webhooks",
    "health",
    "localhost",
    settings.TENANT_BASE_SCHEMA.replace("_", ""),
}


def company_domain(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def tenant_template_ensure() -> Company:
    """The always-migrated schema new companies are cloned from (created once, fully migrated)."""
    template = Company.objects.filter(schema_name=settings.TENANT_BASE_SCHEMA).first()
    if template is None:
        template = Company(
            schema_name=settings.TENANT_BASE_SCHEMA,
            slug=settings.TENANT_BASE_SCHEMA.replace("_", "-"),
            name="Template schema (new companies are cloned from it)",
            status=Company.Status.TEMPLATE,
        )
        template.save(verbosity=0)
    return template


def company_validate_new(*, slug: str, owner_email: str) -> None:
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            "The slug must be 2-40 lowercase letters or digits, starting with a letter.",
            code="invalid_slug",
            details={"slug": slug},
        )
    if slug in RESERVED_SLUGS:
        raise ValidationFailed("This slug is reserved.", code="reserved_slug", details={"slug": slug})
    if Company.objects.filter(schema_name=slug).exists() or schema_exists(slug):
        raise ValidationFailed(
            "A company with this slug already exists.", code="slug_taken", details={"slug": slug}
        )
    if "@" not in owner_email:
        raise ValidationFailed(
            "The owner's email is not valid.", code="invalid_email", details={"owner_email": owner_email}
        )


def company_create(
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_password: str | None,
    owner_name: str = "",
    plan_code: str = "free",
    timezone_name: str = "UTC",
) -> Company:
    """Provision a company: its schema (cloned from the template), domain, owner and defaults."""
    with schema_context(get_public_schema_name()):
        return _company_provision(
            name=name,
            slug=slug.strip().lower(),
            owner_email=owner_email,
            owner_password=owner_password,
            owner_name=owner_name,
            plan_code=plan_code,
            timezone_name=timezone_name,
        )


def _company_provision(
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_password: str | None,
    owner_name: str,
    plan_code: str,
    timezone_name: str,
) -> Company:
    company_validate_new(slug=slug, owner_email=owner_email)
    plan = Plan.objects.filter(code=plan_code).first()
    if plan is None:
        raise NotFound(f"No plan {plan_code!r}.", code="unknown_plan", details={"plan": plan_code})
    tenant_template_ensure()
    company = Company(
        schema_name=slug,
        slug=slug,
        name=name,
        plan=plan,
        timezone=timezone_name,
        signing_secret=secrets.token_urlsafe(32),
    )
    company.save(verbosity=0)
    try:
        with transaction.atomic():
            Domain.objects.create(domain=company_domain(slug), tenant=company, is_primary=True)
            with schema_context(company.schema_name):
                owner = user_create(email=owner_email, password=owner_password, name=owner_name, role="owner")
                department_create(name="General", member_ids=[owner.id])
    except Exception:
        company.delete(force_drop=True)
        raise
    return company


def company_set_status(*, company: Company, status: str) -> Company:
    if status not in (Company.Status.ACTIVE, Company.Status.SUSPENDED):
        raise ValidationFailed(f"Cannot set status {status!r}.", details={"status": status})
    if company.status != status:
        company.status = status
        company.status_changed_at = timezone.now()
        with schema_context(get_public_schema_name()):
            company.save(update_fields=["status", "status_changed_at"])
        from tenants.middleware import companies_by_host

        companies_by_host.clear()  # this process sees the change at once, others within seconds
    return company


def company_seats_used(*, company: Company) -> int:
    with schema_context(company.schema_name):
        from accounts.models import User

        return User.objects.filter(is_active=True).count()

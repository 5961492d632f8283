from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from automation.forms import BusinessHoursForm, IntegrationForm, RuleForm
from automation.models import AutomationLog, AutoReplyRule, Integration
from automation.rules import business_hours_get, business_hours_update, integration_save, rule_save
from core.dashboard import company_admin_required, form_apply


@company_admin_required
def automation_home(request):
    hours = business_hours_get()
    hours_form = BusinessHoursForm(instance=hours, prefix="hours")
    rule_form = RuleForm(prefix="rule", initial={"actions": [{"type": "reply_text", "text": ""}]})
    integration_form = IntegrationForm(prefix="integration")
    if request.method == "POST":
        kind = request.POST.get("form")
        if kind == "hours":
            hours_form = BusinessHoursForm(request.POST, instance=hours, prefix="hours")
            saved = form_apply(
                hours_form,
                lambda f: business_hours_update(
                    hours=business_hours_get(),
                    **{k: f.cleaned_data[k] for k in BusinessHoursForm.Meta.fields},
                ),
            )
        elif kind == "rule":
            rule_form = RuleForm(request.POST, prefix="rule")
            saved = form_apply(rule_form, lambda f: rule_save(rule=f.save(commit=False)))
        elif kind == "integration":
            integration_form = IntegrationForm(request.POST, prefix="integration")
            saved = form_apply(integration_form, lambda f: integration_save(integration=f.save(commit=False)))
        else:
            saved = False
        if saved:
            messages.success(request, "Saved.")
            return redirect("automation_home")
    context = {
        "hours_form": hours_form,
        "rule_form": rule_form,
        "integration_form": integration_form,
        "rules": AutoReplyRule.objects.select_related("channel"),
        "integrations": Integration.objects.all(),
        "logs": AutomationLog.objects.select_related("rule", "conversation__contact")[:50],
    }
    return render(request, "automation/home.html", {"section": "automation", **context})


@company_admin_required
def rule_edit(request, rule_id: int):
    rule = get_object_or_404(AutoReplyRule, pk=rule_id)
    form = RuleForm(request.POST or None, instance=rule, prefix="rule")
    if request.method == "POST" and form_apply(form, lambda f: rule_save(rule=f.save(commit=False))):
        messages.success(request, f"Rule {rule.name!r} saved.")
        return redirect("automation_home")
    return render(request, "automation/rule_edit.html", {"section": "automation", "form": form, "rule": rule})


@company_admin_required
@require_POST
def rule_delete(request, rule_id: int):
    get_object_or_404(AutoReplyRule, pk=rule_id).delete()
    messages.success(request, "Rule deleted.")
    return redirect("automation_home")


@company_admin_required
@require_POST
def integration_delete(request, integration_id: int):
    get_object_or_404(Integration, pk=integration_id).delete()
    messages.success(request, "Integration deleted.")
    return redirect("automation_home")

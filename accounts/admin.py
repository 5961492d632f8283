from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import Department, User
from core.admin import platform_site, tenant_site


class UserCreationForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 8 characters.")

    class Meta:
        model = User
        fields = ("email", "name", "role")

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password"])
        if commit:
            user.save()
        return user


class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "role", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "role", "password")}),)
    add_form = UserCreationForm
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ()


class PlatformUserAdmin(UserAdmin):
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "is_active", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    list_display = ("email", "name", "is_superuser", "is_active", "last_login")
    list_filter = ("is_superuser", "is_active")


class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("members",)

    @admin.display(description="members")
    def member_count(self, obj: Department) -> int:
        return obj.members.count()


tenant_site.register(User, UserAdmin)
tenant_site.register(Department, DepartmentAdmin)
platform_site.register(User, PlatformUserAdmin)

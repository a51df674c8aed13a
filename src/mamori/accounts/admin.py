from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from mamori.accounts.models import ApiToken, User


@admin.register(User)
class MamoriUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "organisation", "is_active")
    list_filter = ("role", "is_active")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Mamori", {"fields": ("role", "organisation", "must_change_password")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")

from django.contrib import admin

from mamori.cases.models import AuditEntry, Case


class ReadOnlyAudit(admin.TabularInline):
    model = AuditEntry
    extra = 0
    can_delete = False
    readonly_fields = ("at", "actor_name", "action", "field", "before", "after")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Read-only: cases change only through the workflow services, which keep the audit trail."""

    list_display = ("tracking_id", "title", "state", "severity", "owning_team", "created_at")
    list_filter = ("state", "severity", "source")
    search_fields = ("tracking_id", "title")
    inlines = [ReadOnlyAudit]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

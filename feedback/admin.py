"""Django admin for feedback: the objection and self-serve blocker categories (edited
here by admins) and read-only views of the feedback given and the frozen reports.
Feedback itself is written by reps on its own page; PMs tag and comment there."""

from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpRequest

from feedback.models import Feedback, FeedbackCategory, FeedbackComment, FeedbackTag, ReportSnapshot


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(FeedbackCategory)
class FeedbackCategoryAdmin(admin.ModelAdmin):
    list_display = ("label", "kind", "key", "position", "is_active", "used")
    list_editable = ("position", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("label", "key", "description")
    prepopulated_fields = {"key": ("label",)}

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .annotate(
                uses=Count("objection_feedback", distinct=True)
                + Count("blocker_feedback", distinct=True)
            )
        )

    @admin.display(description="used by feedback", ordering="uses")
    def used(self, obj: FeedbackCategory) -> int:
        return obj.uses

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # Reports, drill-down links and CSV exports name a category by its kind and key.
        return ("kind", "key") if obj else ()

    def get_prepopulated_fields(self, request: HttpRequest, obj=None):
        return {} if obj else self.prepopulated_fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        """A category already on feedback is deactivated, not deleted (deleting it would
        drop it from past feedback and from past months' reports)."""
        if obj is None:
            return True
        used = Q(objection_feedback__isnull=False) | Q(blocker_feedback__isnull=False)
        return not FeedbackCategory.objects.filter(used, pk=obj.pk).exists()


class TagInline(admin.TabularInline):
    model = FeedbackTag
    extra = 0
    can_delete = False
    fields = ("name", "added_by", "added_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class CommentInline(TagInline):
    model = FeedbackComment
    fields = ("created_at", "author", "text")
    readonly_fields = fields


@admin.register(Feedback)
class FeedbackAdmin(ReadOnly):
    list_display = ("item", "account", "outcome", "author", "created_at")
    list_filter = ("outcome", "objections", "blockers")
    search_fields = ("item__account__name", "trigger_signal", "objection_note", "self_serve_note")
    list_select_related = ("item__account", "author")
    inlines = [TagInline, CommentInline]

    @admin.display(description="account", ordering="item__account__name")
    def account(self, obj: Feedback) -> str:
        return obj.item.account.name


@admin.register(ReportSnapshot)
class ReportSnapshotAdmin(ReadOnly):
    list_display = ("month", "frozen_at", "emailed_at")
    fields = ("month", "frozen_at", "emailed_at", "figures")

from django.contrib import admin

from public.models import Regulation


@admin.register(Regulation)
class RegulationAdmin(admin.ModelAdmin):
    list_display = ["title", "adopted_by", "published_at"]
    search_fields = ["title", "body"]

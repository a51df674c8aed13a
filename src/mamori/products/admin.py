from django.contrib import admin

from mamori.products.models import Component, Product, ProductAlias, ProductVersion, Team


class VersionInline(admin.TabularInline):
    model = ProductVersion
    extra = 0


class ComponentInline(admin.TabularInline):
    model = Component
    extra = 0


class AliasInline(admin.TabularInline):
    model = ProductAlias
    extra = 0
    readonly_fields = ("normalised",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug", "aliases__alias")
    inlines = [VersionInline, ComponentInline, AliasInline]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    filter_horizontal = ("members",)

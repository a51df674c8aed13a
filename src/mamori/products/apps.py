from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "mamori.products"
    label = "products"
    verbose_name = "Product catalogue"

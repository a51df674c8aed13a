"""Driving the UI as a browser would: real login form, CSRF tokens from the cookie."""

from __future__ import annotations

from django.test import Client


class Browser:
    def __init__(self) -> None:
        self.client = Client(enforce_csrf_checks=True)

    def get(self, path: str, **params: str):
        return self.client.get(path, params)

    def post(self, path: str, data: dict[str, object], *, follow: bool = True):
        if "csrftoken" not in self.client.cookies:
            self.client.get("/accounts/login/")
        token = self.client.cookies["csrftoken"].value
        return self.client.post(path, {**data, "csrfmiddlewaretoken": token}, follow=follow)

    def login(self, username: str, password: str):
        self.client.get("/accounts/login/")
        return self.post("/accounts/login/", {"username": username, "password": password})

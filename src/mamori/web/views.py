from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from mamori.cases.services import is_internal


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("cases:queue" if is_internal(request.user) else "cases:mine")


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})

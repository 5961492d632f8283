"""Views for the ASGI handler's tests (tests/core/test_asgi.py)."""

import threading

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

release = threading.Event()


def plain(request):
    return HttpResponse(f"hello {request.GET.get('name', '')} from {threading.current_thread().name}")


def streaming(request):
    return StreamingHttpResponse(iter([b"one,", b"two,", b"three"]))


def broken(request):
    raise RuntimeError("boom")


def slow(request):
    release.wait(timeout=5)
    return HttpResponse("late")


urlpatterns = [
    path("plain", plain),
    path("streaming", streaming),
    path("broken", broken),
    path("slow", slow),
]

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def insert_one_row(request):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling (body) VALUES (%s)", [request.body.decode()])
    return JsonResponse({"status": "accepted"})


urlpatterns = [path("ingest/", insert_one_row)]

from django.test import override_settings

from tests.helpers import host_client


def test_health_ok_on_platform_and_company_hosts(alpha):
    for host in ("localhost", alpha.host):
        response = host_client(host).get("/health")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "checks": {"database": "ok", "redis": "ok", "broker": "ok"},
        }


def test_health_degraded_when_redis_is_down(alpha):
    dead = "redis://127.0.0.1:1/0"
    with override_settings(REDIS_URL=dead, CELERY_BROKER_URL=dead):
        response = host_client(alpha.host).get("/health")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ") and body["checks"]["broker"].startswith("error: ")
    assert "127.0.0.1" not in str(body)

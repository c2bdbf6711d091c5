import pytest


@pytest.mark.gen_test
async def test_health_reports_database_and_redis_ok(api):
    resp = await api.get("/api/health/")
    assert resp.status == 200
    assert resp.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.gen_test
async def test_unknown_path_is_404_in_the_envelope(api):
    resp = await api.get("/api/does-not-exist/")
    assert resp.status == 404
    body = resp.json()
    assert body["status"] == "error" and body["success"] is False and body["errors"] == {}

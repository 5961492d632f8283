from tests.helpers import host_client, login


def test_api_errors_use_the_json_error_shape(alpha):
    client = host_client(alpha.host)
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert set(anonymous.json()["error"]) == {"code", "message", "details"}

    login(client, alpha.host, alpha.owner_email)
    wrong_method = client.delete("/api/v1/me")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"

    me = client.get("/api/v1/me").json()
    assert me["email"] == alpha.owner_email and me["company"] == "alpha" and me["role"] == "owner"


def test_openapi_docs_are_served(alpha):
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/me" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()

def test_schema_is_served(db, api, sarah):
    response = api(sarah).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Relman API"
    assert "/api/v1/interruptions/{id}/take/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_docs_are_served_from_the_sidecar(db, client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "swagger-ui" in body
    assert "/static/drf_spectacular_sidecar/" in body
    # The start-up script is a file of its own (a strict CSP allows no inline script),
    # and it points Swagger UI at the schema.
    assert '<script src="/api/v1/docs/?script="></script>' in body
    assert "/api/v1/schema/" in client.get("/api/v1/docs/?script=").content.decode()

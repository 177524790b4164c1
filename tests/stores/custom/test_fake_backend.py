"""The fake custom backend itself: real JWTs, rate-limit bookkeeping, idempotency, seeding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx

from tests.fakes.custom_backend import FakeCustomBackend, verify_hs256


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return decoded


def test_login_issues_a_real_hs256_jwt_and_rejects_bad_tokens() -> None:
    with FakeCustomBackend(token_lifetime_s=0.3) as backend, httpx.Client() as http:
        answer = http.post(
            f"{backend.url}/api/auth/login",
            json={"username": backend.username, "password": backend.password},
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 0.3
        token = body["access_token"]
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "==="))
        assert header == {"alg": "HS256", "typ": "JWT"}
        expected = hmac.new(
            b"fake-custom-backend-signing-key",
            f"{header_b64}.{payload_b64}".encode(),
            hashlib.sha256,
        ).digest()
        assert base64.urlsafe_b64decode(signature_b64 + "===") == expected
        claims = _claims(token)
        assert claims["sub"] == backend.username

        def get(auth: str) -> int:
            headers = {"Authorization": auth}
            return http.get(f"{backend.url}/api/payment-methods", headers=headers).status_code

        assert get(f"Bearer {token}") == 200
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert get(f"Bearer {tampered}") == 401
        assert verify_hs256(tampered, b"fake-custom-backend-signing-key") is None
        assert get("") == 401
        time.sleep(0.35)
        expired = http.get(
            f"{backend.url}/api/payment-methods", headers={"Authorization": f"Bearer {token}"}
        )
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "token_expired"
        assert backend.logins == 1


def test_a_client_that_ignores_retry_after_is_recorded() -> None:
    with FakeCustomBackend() as backend, httpx.Client() as http:
        headers = {"Authorization": f"Bearer {backend.issue_token()}"}
        backend.rate_limit(1, per_s=5.0)
        statuses = [
            http.get(f"{backend.url}/api/payment-methods", headers=headers) for _ in range(3)
        ]
        assert [r.status_code for r in statuses] == [200, 429, 429]
        assert statuses[1].headers["retry-after"] == "5"
        assert backend.throttled == 1
        assert backend.violations == 1


def test_orders_need_an_idempotency_key() -> None:
    with FakeCustomBackend() as backend, httpx.Client() as http:
        backend.seed(products=2)
        headers = {"Authorization": f"Bearer {backend.issue_token()}"}
        body = {
            "currency": "EUR",
            "items": [{"product_id": 1, "variant_id": 1, "quantity": 1, "unit_price": "6.50"}],
        }
        missing = http.post(f"{backend.url}/api/orders", json=body, headers=headers)
        assert missing.status_code == 400
        keyed = {**headers, "Idempotency-Key": "k"}
        first = http.post(f"{backend.url}/api/orders", json=body, headers=keyed)
        again = http.post(f"{backend.url}/api/orders", json=body, headers=keyed)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json() == again.json()
        assert backend.orders_created == 1


def test_seed_is_deterministic_and_replaces_data() -> None:
    one, two = FakeCustomBackend(), FakeCustomBackend()
    one.seed(products=30, orders=12, categories=4)
    two.seed(products=30, orders=12, categories=4)
    assert one.products == two.products
    assert one.orders == two.orders
    assert one.categories == two.categories
    one.seed(products=3)
    assert sorted(one.products) == ["1", "2", "3"]
    assert one.orders == {} and one.categories == {}

"""A small client of a weather service: the code under test in test_forecast_client.py."""

from __future__ import annotations

from typing import Any

import httpx


class ForecastClient:
    """Reads forecasts and subscribes to alerts; the API key goes in the query and the body."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=5.0)
        self.api_key = api_key

    def forecast(self, city: str) -> dict[str, Any]:
        response = self.http.get("/v1/forecast", params={"city": city, "api_key": self.api_key})
        response.raise_for_status()
        forecast: dict[str, Any] = response.json()
        return forecast

    def subscribe(self, city: str, email: str) -> str:
        body = {"city": city, "email": email, "api_key": self.api_key}
        response = self.http.post("/v1/alerts", json=body)
        response.raise_for_status()
        return str(response.json()["subscription"])

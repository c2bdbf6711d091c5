"""Countries and states from pycountry."""
from __future__ import annotations

import pytest

from tests.support.client import assert_envelope


@pytest.mark.gen_test
async def test_countries_is_a_plain_sorted_array(api):
    resp = await api.get("/api/countries/")
    assert resp.status == 200
    rows = resp.json()
    assert isinstance(rows, list) and len(rows) > 240
    ng = next(r for r in rows if r["code"] == "NG")
    assert ng == {"code": "NG", "code3": "NGA", "name": "Nigeria", "phone_code": "+234"}
    names = [r["name"] for r in rows]
    assert names == sorted(names)


@pytest.mark.gen_test
async def test_states_of_a_country_by_alpha2_or_alpha3_any_case(api):
    rows = (await api.get("/api/countries/ng/states/")).json()
    assert {"code": "NG-LA", "name": "Lagos", "type": "State"} in rows
    assert (await api.get("/api/v1/countries/NGA/states")).json() == rows
    us = (await api.get("/api/countries/US/states/")).json()
    assert any(s["code"] == "US-CA" and s["name"] == "California" for s in us)


@pytest.mark.gen_test
async def test_country_without_subdivisions_is_an_empty_array(api):
    resp = await api.get("/api/countries/AQ/states/")  # Antarctica
    assert resp.status == 200 and resp.json() == []


@pytest.mark.gen_test
async def test_unknown_country_is_404(api):
    assert_envelope(await api.get("/api/countries/XX/states/"), 404, "Country not found")

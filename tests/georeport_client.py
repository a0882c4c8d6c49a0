"""A small Open311 GeoReport v2 client written from the published spec (wiki.open311.org/GeoReport_v2),
not from our server's code: resources are `<path>.<format>`, answers are JSON or XML with the
spec's element names, errors a list of {code, description}, times W3C datetimes with a zone.
Each answer is checked against the spec's field list, so a test reading it checks the shape too.
`POST requests` sends its arguments form-encoded (the spec's POST parameters), the api_key among them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from xml.etree import ElementTree

from aiohttp import ClientSession

# The spec's fields of a service, and of a service request (GET requests, GET request).
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}
# The fields of an answer to POST requests: the id, or a token to look it up later; and an attribute
# of a service definition, with the datatypes the spec allows.
POSTED_FIELDS = {"service_request_id", "token", "service_notice", "account_id"}
ATTRIBUTE_FIELDS = {"variable", "code", "datatype", "required", "datatype_description", "order", "description"}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")
# The element of each item of a list in XML, by the list's element.
XML_LISTS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
             "endpoints": "endpoint", "formats": "format", "values": "value"}


class GeoReportError(Exception):
    def __init__(self, status: int, errors: list[dict]):
        super().__init__(status, errors)
        self.status = status
        self.errors = errors


@dataclass
class GeoReportClient:
    session: ClientSession
    base: str  # the endpoint's url as discovery gives it, e.g. http://host/open311/v2
    format: str = "json"
    headers: dict | None = None

    async def get(self, resource: str, **params: str) -> object:
        url = f"{self.base}/{resource}.{self.format}"
        async with self.session.get(url, params=params, headers=self.headers) as response:
            body = await response.read()
            return self._answer(response.status, response.headers.get("Content-Type", ""), body)

    async def post(self, resource: str, fields: dict[str, str]) -> object:
        url = f"{self.base}/{resource}.{self.format}"
        async with self.session.post(url, data=fields, headers=self.headers) as response:
            body = await response.read()
            return self._answer(response.status, response.headers.get("Content-Type", ""), body)

    def _answer(self, status: int, content_type: str, body: bytes) -> object:
        if self.format == "xml":
            assert content_type.startswith("text/xml") and body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
            value = xml_value(ElementTree.fromstring(body))
        else:
            assert content_type.startswith("application/json")
            value = json.loads(body)
        if status >= 400:
            assert isinstance(value, list) and value and all({"code", "description"} <= set(e) for e in value)
            assert all(int(e["code"]) == status for e in value)
            raise GeoReportError(status, value)
        assert status == 200
        return value

    async def discovery(self) -> dict:
        found = await self.get("discovery")
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(found)
        for endpoint in found["endpoints"]:
            assert {"specification", "url", "changeset", "type", "formats"} <= set(endpoint)
            assert endpoint["type"] in ("production", "test")
        return found

    async def services(self, **params: str) -> list[dict]:
        found = await self.get("services", **params)
        for service in found:
            assert set(service) == SERVICE_FIELDS
            assert service["type"] in ("realtime", "batch", "blackbox")
            assert flag(service["metadata"]) in (True, False)
        return found

    async def service_definition(self, code: str) -> dict:
        found = await self.get(f"services/{code}")
        assert found["service_code"] == code and "attributes" in found
        for attribute in found["attributes"] or []:
            assert ATTRIBUTE_FIELDS <= set(attribute) and attribute["datatype"] in DATATYPES
            assert flag(attribute["variable"]) in (True, False) and flag(attribute["required"]) in (True, False)
        return found

    async def post_request(self, api_key: str | None, service_code: str | None, description: str | None = None,
                           lat: float | None = None, long: float | None = None, address_id: str | None = None,
                           attributes: dict[str, str] | None = None, **more: str) -> dict:
        """POST requests; the answer's one item: a service_request_id or a token."""
        fields = {"api_key": api_key, "service_code": service_code, "description": description,
                  "lat": lat, "long": long, "address_id": address_id, **more}
        fields.update({f"attribute[{code}]": value for code, value in (attributes or {}).items()})
        found = await self.post("requests", {k: str(v) for k, v in fields.items() if v is not None})
        assert isinstance(found, list) and len(found) == 1
        [posted] = found
        assert set(posted) <= POSTED_FIELDS and ({"service_request_id", "token"} & set(posted))
        return posted

    async def requests(self, **filters: str) -> list[dict]:
        return [checked_request(r) for r in await self.get("requests", **filters)]

    async def request(self, service_request_id: str, **params: str) -> dict:
        found = await self.get(f"requests/{service_request_id}", **params)
        assert isinstance(found, list) and len(found) == 1
        return checked_request(found[0])


def checked_request(request: dict) -> dict:
    assert set(request) == REQUEST_FIELDS
    assert request["status"] in ("open", "closed")
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert request[name] in (None, "") or W3C.match(request[name]), (name, request[name])
    assert W3C.match(request["requested_datetime"])
    return request


def flag(value: object) -> bool:
    return value if isinstance(value, bool) else {"true": True, "false": False}[value]


def xml_value(element: ElementTree.Element) -> object:
    """An element as JSON would have it: lists by the spec's plural names, objects, text (empty
    elements as None)."""
    if element.tag in XML_LISTS:
        assert all(child.tag == XML_LISTS[element.tag] for child in element)
        return [xml_value(child) for child in element]
    if len(element):
        return {child.tag: xml_value(child) for child in element}
    return element.text

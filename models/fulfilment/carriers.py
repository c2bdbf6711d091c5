"""The carriers a shipment may name, with the address of their tracking page
(the one home of this table; a shipment's own ``tracking_url`` overrides)."""
from __future__ import annotations

from urllib.parse import quote

# code -> (name, tracking URL template with {number}, or None: no public page)
CARRIERS: dict[str, tuple[str, str | None]] = {
    "ups": ("UPS", "https://www.ups.com/track?tracknum={number}"),
    "fedex": ("FedEx", "https://www.fedex.com/fedextrack/?trknbr={number}"),
    "usps": ("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}"),
    "dhl": ("DHL", "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={number}"),
    "royal_mail": ("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{number}"),
    "canada_post": ("Canada Post", "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{number}"),
    "other": ("Other", None),
}


def tracking_url(carrier: str, number: str, given: str | None = None) -> str | None:
    """``given`` when staff typed one, else the carrier's page for ``number``
    (None without a number or a page)."""
    if given:
        return given
    template = CARRIERS.get(carrier, ("", None))[1]
    if not template or not number:
        return None
    return template.format(number=quote(number, safe=""))


def carrier_list() -> list[dict[str, str | None]]:
    return [{"code": code, "name": name, "tracking_url_template": template}
            for code, (name, template) in CARRIERS.items()]

"""The web pages (dashboard, audit, operations) and the public open-data page, served
with the APIs by `lrs serve` (lrs.web.app)."""

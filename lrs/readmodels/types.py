"""Value types the read models share, with what their JSON Schema says of them."""

from __future__ import annotations

from typing import Annotated

from pydantic import WithJsonSchema

# A time in the stored form (UTC, milliseconds, `Z`), as statements' `stored` is written.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]

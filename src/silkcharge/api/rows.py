"""Lists that one bad row cannot break.

The store refuses what cannot be true (plausibility at the edge, bounded columns), but a row
written before those rules existed may still fail its response model. A list leaves such a
row out and logs which one and why, instead of answering 500 (or 422) to every operator."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def shown(model: type[M], rows: Iterable[Any], what: str) -> list[M]:
    """Each row as `model`; a row that does not validate is logged and left out."""
    out = []
    for row in rows:
        try:
            out.append(model.model_validate(row))
        except ValidationError as error:
            key = getattr(row, "id", None) or getattr(row, "station_id", "?")
            log.error("%s %s cannot be shown and is left out of the list: %s", what, key, error)
    return out

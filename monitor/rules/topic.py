"""One topic as written in config.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TopicRule(BaseModel):
    """A topic: a query in the rule language plus how its matches are scored."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)
    threshold: float = Field(1.0, ge=0)
    title_boost: float = Field(2.0, ge=0)
    languages: list[str] | None = None
    description: str | None = None

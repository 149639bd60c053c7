"""The report-type port: parameters, columns, and the rows a reader may see."""

from abc import ABC, abstractmethod
from typing import ClassVar, Iterator

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from audit_events.search.query import SearchQueryError, in_utc, later_than_from
from audit_events.store import StoredEvent

__all__ = ["ParamsError", "Period", "ReportError", "ReportParams", "ReportType", "Row", "params_errors"]

#: a row, and the stored event it shows (for the evidence bundle), if any
Row = tuple[dict, StoredEvent | None]


class ReportError(Exception):
    """A report that cannot be made as asked; the message is for its requester."""


class ParamsError(SearchQueryError):
    """Bad report parameters: ``errors`` holds ``{"field": "params.<name>", "message"}`` items."""


class ReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Period(ReportParams):
    """An optional ``from`` (inclusive) and ``to`` (exclusive), with offsets."""

    from_: AwareDatetime | None = Field(None, alias="from")
    to: AwareDatetime | None = None

    # The same rules as the search's own window.
    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, value):
        return in_utc(value)

    @field_validator("to")
    @classmethod
    def _after_from(cls, value, info):
        return later_than_from(value, info)

    def contains(self, instant) -> bool:
        return (self.from_ is None or instant >= self.from_) and (self.to is None or instant < self.to)


def params_errors(exc: ValidationError) -> list[dict]:
    """Pydantic's errors as ``{"field": "params.<name>", "message"}``."""
    return [
        {"field": ".".join(["params", *(str(p) for p in e["loc"])]).replace("from_", "from"),
         "message": e["msg"].removeprefix("Value error, ")}
        for e in exc.errors(include_url=False)
    ]


class ReportType(ABC):
    """One kind of report. Rows come as a stream: nothing holds them all."""

    id: ClassVar[str]
    label: ClassVar[str]
    Params: ClassVar[type[ReportParams]]
    columns: ClassVar[list[str]]

    def validate(self, params: dict) -> ReportParams:
        """The parameters, checked; ``ParamsError`` naming each bad one."""
        if not isinstance(params, dict):
            raise ParamsError([{"field": "params", "message": "must be an object"}])
        try:
            return self.Params.model_validate(params)
        except ValidationError as exc:
            raise ParamsError(params_errors(exc)) from None

    @abstractmethod
    def title(self, params) -> str:
        """A line naming the report and what it covers."""

    #: whether ``rows`` takes ``span=(after, upto)`` (positions of the log): several
    #: workers then make the report together, each the rows of one contiguous span
    parallel: ClassVar[bool] = False

    @abstractmethod
    def rows(self, params, reader) -> Iterator[Row]:
        """The rows, in order, each with the event it shows (or ``None``)."""

    def estimate(self, params, reader) -> int | None:
        """How many rows to expect, when cheap to know (for progress)."""
        return None

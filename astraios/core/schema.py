"""The base of every config model (run, method, grid): unknown keys are refused, and values must
have the field's type, not one that merely converts to it.

pydantic's lax mode reads `max_steps: true` as 1 and `learning_rate: .inf` as infinity; both are
mistakes worth an error. Full strict mode would go too far the other way: YAML reads `1e-4` (no
dot) as a string, which a float field should still take. So: floats must be finite, and a
boolean given to a number field is refused (it reaches the field as the text `true`, which no
number parses, so the error names the field like any other type error).
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data):
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {key: str(value).lower() if isinstance(value, bool) and key in fields
                and not _takes(fields[key].annotation, (bool, str)) else value
                for key, value in data.items()}


def _takes(annotation, types: tuple) -> bool:
    """Whether a field of this annotation accepts a value of one of `types` as it is."""
    if annotation in types or annotation is typing.Any:
        return True
    return any(_takes(argument, types) for argument in typing.get_args(annotation))

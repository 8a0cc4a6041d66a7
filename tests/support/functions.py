"""The hub's functions as the generated template declares them (the template, not the generator, is the truth)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.support.cfn import generated_template

FUNCTION_SUFFIX = "Function"


@dataclass(frozen=True)
class HubFunction:
    """One ``AWS::Lambda::Function`` of the hub: ``name`` is its logical id without ``Function`` (``Discover``)."""

    name: str
    handler_module: str  # handlers.discover
    function_name: str  # resolved with the default NamePrefix
    variables: tuple[str, ...]  # the environment variables the template sets

    @property
    def module(self) -> str:
        """The handler module's name inside ``handlers`` (``discover``)."""
        return self.handler_module.removeprefix("handlers.")


@cache
def hub_functions() -> tuple[HubFunction, ...]:
    template = generated_template("hub.json")
    prefix = template["Parameters"]["NamePrefix"]["Default"]
    found = []
    for logical_id, resource in sorted(template["Resources"].items()):
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties: dict[str, Any] = resource["Properties"]
        module, _, attribute = properties["Handler"].rpartition(".")
        assert attribute == "lambda_handler", logical_id
        found.append(
            HubFunction(
                name=logical_id.removesuffix(FUNCTION_SUFFIX),
                handler_module=module,
                function_name=properties["FunctionName"]["Fn::Sub"].replace("${NamePrefix}", prefix),
                variables=tuple(sorted(properties["Environment"]["Variables"])),
            )
        )
    return tuple(found)


def hub_function(name: str) -> HubFunction:
    (found,) = [function for function in hub_functions() if function.name == name]
    return found

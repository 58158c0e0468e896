"""Resolve CloudFormation intrinsic functions against the resources the embedded AWS created.

Only what a template's values need locally: Ref, Fn::GetAtt, Fn::Sub, Fn::If (with the Conditions
section), Fn::Equals/Not/And/Or, Condition, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap,
Fn::Base64 and Fn::GetAZs. Anything else raises IntrinsicError naming where it was found.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the enclosing key or list item disappears

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class IntrinsicError(Exception):
    """A value cannot be resolved locally."""


class Resolver:
    """Resolves intrinsic functions.

    ``ref`` and ``get_att`` are callbacks for resources (logical id → physical id; logical id and
    attribute → value); parameters and pseudo-parameters are held here.
    """

    def __init__(
        self,
        *,
        parameters: dict[str, str],
        pseudo: dict[str, str],
        conditions: dict[str, Any] | None = None,
        mappings: dict[str, Any] | None = None,
        ref: Callable[[str], Any] | None = None,
        get_att: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.parameters = parameters
        self.pseudo = pseudo
        self.conditions = conditions or {}
        self.mappings = mappings or {}
        self._ref = ref
        self._get_att = get_att
        self._condition_cache: dict[str, bool] = {}

    # ------------------------------------------------------------------ public
    def resolve(self, value: Any, where: str = "value") -> Any:
        """``value`` with every intrinsic replaced; AWS::NoValue drops keys and list items."""
        resolved = self._resolve(value, where)
        if resolved is NO_VALUE:
            return None
        return resolved

    def condition(self, name: str, where: str = "condition") -> bool:
        """The truth of a named condition of the Conditions section."""
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise IntrinsicError(f"{where}: unknown condition {name!r}")
            self._condition_cache[name] = self._truth(self.conditions[name], f"{where} (condition {name})")
        return self._condition_cache[name]

    # ------------------------------------------------------------------ internals
    def _resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item, where) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument, where)
        resolved = {key: self._resolve(item, where) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, key: str, argument: Any, where: str) -> Any:
        handler = {
            "Ref": self._fn_ref,
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::If": self._fn_if,
            "Fn::Join": self._fn_join,
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::Base64": self._fn_base64,
            "Fn::GetAZs": self._fn_get_azs,
            "Fn::Equals": lambda arg, w: self._truth({"Fn::Equals": arg}, w),
            "Fn::Not": lambda arg, w: self._truth({"Fn::Not": arg}, w),
            "Fn::And": lambda arg, w: self._truth({"Fn::And": arg}, w),
            "Fn::Or": lambda arg, w: self._truth({"Fn::Or": arg}, w),
            "Condition": lambda arg, w: self.condition(arg, w),
        }.get(key)
        if handler is None:
            raise IntrinsicError(f"{where}: {key} is not supported by the local runtime")
        return handler(argument, where)

    def _fn_ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise IntrinsicError(f"{where}: Ref takes a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name.startswith("AWS::"):
            raise IntrinsicError(f"{where}: pseudo-parameter {name} is not supported by the local runtime")
        if name in self.parameters:
            return self.parameters[name]
        if self._ref is None:
            raise IntrinsicError(f"{where}: Ref {name} needs a resource, and none are available")
        return self._ref(name)

    def _fn_get_att(self, argument: Any, where: str) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute], got {argument!r}")
        logical_id, attribute = argument[0], self._resolve(argument[1], where)
        if self._get_att is None:
            raise IntrinsicError(f"{where}: Fn::GetAtt {logical_id}.{attribute} needs a resource")
        return self._get_att(logical_id, attribute)

    def _fn_sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], {k: self._resolve(v, where) for k, v in argument[1].items()}
        else:
            raise IntrinsicError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")
        if not isinstance(text, str):
            raise IntrinsicError(f"{where}: Fn::Sub template must be a string")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):  # ${!Literal} writes ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._fn_get_att([logical_id, attribute], where))
            return str(self._fn_ref(name, where))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise IntrinsicError(f"{where}: Fn::If takes [condition, if_true, if_false]")
        chosen = argument[1] if self.condition(argument[0], where) else argument[2]
        return self._resolve(chosen, where)

    def _fn_join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"{where}: Fn::Join takes [delimiter, [values]]")
        items = self._resolve(argument[1], where)
        if not isinstance(items, list):
            raise IntrinsicError(f"{where}: Fn::Join needs a list of values")
        return str(argument[0]).join(str(item) for item in items)

    def _fn_select(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"{where}: Fn::Select takes [index, [values]]")
        index, items = int(self._resolve(argument[0], where)), self._resolve(argument[1], where)
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise IntrinsicError(f"{where}: Fn::Select index {index} out of range")
        return items[index]

    def _fn_split(self, argument: Any, where: str) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise IntrinsicError(f"{where}: Fn::Split takes [delimiter, string]")
        text = self._resolve(argument[1], where)
        if not isinstance(text, str):
            raise IntrinsicError(f"{where}: Fn::Split needs a string")
        return text.split(str(argument[0]))

    def _fn_find_in_map(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) in (3, 4)):
            raise IntrinsicError(f"{where}: Fn::FindInMap takes [map, top key, second key]")
        names = [self._resolve(part, where) for part in argument[:3]]
        try:
            return self._resolve(self.mappings[names[0]][names[1]][names[2]], where)
        except (KeyError, TypeError) as error:
            if len(argument) == 4 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
                return self._resolve(argument[3]["DefaultValue"], where)
            raise IntrinsicError(f"{where}: Fn::FindInMap {names} not found") from error

    def _fn_base64(self, argument: Any, where: str) -> str:
        return base64.b64encode(str(self._resolve(argument, where)).encode()).decode()

    def _fn_get_azs(self, argument: Any, where: str) -> list[str]:
        region = self._resolve(argument, where) or self.pseudo["AWS::Region"]
        return [f"{region}{letter}" for letter in "abc"]

    def _truth(self, expression: Any, where: str) -> bool:
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, str) and expression in ("true", "false"):
            return expression == "true"
        if not (isinstance(expression, dict) and len(expression) == 1):
            raise IntrinsicError(f"{where}: not a condition: {expression!r}")
        ((key, argument),) = expression.items()
        if key == "Condition":
            return self.condition(argument, where)
        if key == "Fn::Equals":
            if not (isinstance(argument, list) and len(argument) == 2):
                raise IntrinsicError(f"{where}: Fn::Equals takes two values")
            left, right = (self._resolve(item, where) for item in argument)
            return str(left) == str(right) if not isinstance(left, list | dict) else left == right
        if key == "Fn::Not":
            if not (isinstance(argument, list) and len(argument) == 1):
                raise IntrinsicError(f"{where}: Fn::Not takes one condition")
            return not self._truth(argument[0], where)
        if key == "Fn::And":
            return all(self._truth(item, where) for item in argument)
        if key == "Fn::Or":
            return any(self._truth(item, where) for item in argument)
        raise IntrinsicError(f"{where}: {key} is not a condition function")

"""Load template.yaml and run the SAM transform offline, as cfn-lint does.

The result keeps both views: the original SAM template (its HttpApi events, Auth and CORS settings
are what API Gateway is configured from) and the translated CloudFormation (globals merged into
every AWS::Lambda::Function, which is where the functions' final environment lives).
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Placeholder that the translator accepts for local code paths; the real path is kept separately.
_S3_PLACEHOLDER = "s3://habeas-local/placeholder"


class TemplateError(Exception):
    """The template cannot be loaded or translated."""


@dataclass
class FunctionSpec:
    """One Lambda function as the runtime runs it."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout: Any  # an int, or an intrinsic the runtime resolves
    memory_size: Any
    environment: dict[str, Any]
    events: dict[str, dict[str, Any]]
    function_name: str | None = None


@dataclass
class SamTemplate:
    """A template in both its SAM and its translated CloudFormation form."""

    path: Path
    sam: dict[str, Any]
    cfn: dict[str, Any]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The folder of the template: CodeUri paths are relative to it."""
        return self.path.parent

    def parameter_defaults(self) -> dict[str, str]:
        """Every parameter's default value, as a string (CloudFormation passes strings)."""
        defaults = {}
        for name, spec in (self.cfn.get("Parameters") or {}).items():
            if "Default" in spec:
                value = spec["Default"]
                defaults[name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        return defaults


def _plain(value: Any) -> Any:
    """Deep-copy cfn-lint's node objects into plain dicts, lists and strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def load_yaml(path: Path) -> dict[str, Any]:
    """Decode a CloudFormation YAML/JSON file, short-form tags (!Ref, !Sub, ...) included."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if matches or template is None:
        raise TemplateError(f"{path}: " + "; ".join(str(m) for m in matches or ["cannot be decoded"]))
    return _plain(template)


def translate(sam: dict[str, Any], region: str) -> dict[str, Any]:
    """Run aws-sam-translator offline: local code paths become S3 placeholders, no IAM lookups."""
    from samtranslator.parser import parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator

    logging.getLogger("samtranslator").setLevel(logging.CRITICAL)
    template = copy.deepcopy(sam)
    for resource in (template.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith("s3://"):
            properties["CodeUri"] = _S3_PLACEHOLDER
        if kind == "AWS::Serverless::LayerVersion" and not str(properties.get("ContentUri", "")).startswith("s3://"):
            properties["ContentUri"] = _S3_PLACEHOLDER
    # The translator reads the region from the environment (its ARN generator), like cfn-lint sets it.
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        # An empty managed-policy map: names of managed policies would need IAM; ARNs pass through.
        translator = Translator(managed_policy_map={}, sam_parser=parser.Parser())
        return _plain(translator.translate(sam_template=template, parameter_values={}, passthrough_metadata=True))
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise TemplateError(f"SAM transform failed: {causes}") from error
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def load_template(path: str | Path, region: str) -> SamTemplate:
    """Load and translate ``path``; collect its functions with their code folder and events."""
    path = Path(path).resolve()
    sam = load_yaml(path)
    cfn = translate(sam, region)
    loaded = SamTemplate(path=path, sam=sam, cfn=cfn)
    for logical_id, resource in (sam.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        translated = cfn["Resources"].get(logical_id)
        if translated is None:  # a function under a false Condition is still translated; be safe
            continue
        props = translated.get("Properties") or {}
        sam_props = resource.get("Properties") or {}
        code_uri = sam_props.get("CodeUri") or _globals(sam).get("CodeUri") or "."
        if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
            raise TemplateError(f"{logical_id}: CodeUri must be a local folder to run locally, got {code_uri!r}")
        loaded.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(path.parent / code_uri).resolve(),
            handler=str(props.get("Handler") or sam_props.get("Handler")),
            timeout=props.get("Timeout", 3),
            memory_size=props.get("MemorySize", 128),
            environment=(props.get("Environment") or {}).get("Variables") or {},
            events=sam_props.get("Events") or {},
            function_name=props.get("FunctionName") if isinstance(props.get("FunctionName"), str) else None,
        )
    return loaded


def _globals(sam: dict[str, Any]) -> dict[str, Any]:
    return (sam.get("Globals") or {}).get("Function") or {}

"""The embedded AWS: moto's server in-process, with the template's resources created in it.

What moto's CloudFormation creates reliably (tables, keys, aliases, buckets, queues, topics, log
groups) goes through ``create_stack``; what it skips (secrets, Cognito, SSM parameters) is created
here through the service APIs, from the same template properties. Functions, roles, permissions,
API Gateway, event source mappings and layers are the runtime's business, not the stack's.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import uuid
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import jwt
from botocore.config import Config

from habeas_local.intrinsics import IntrinsicError, Resolver
from habeas_local.template import SamTemplate, load_template

log = logging.getLogger("habeas_local")

ACCOUNT_ID = "123456789012"
STAFF_TOKEN_TTL = 3600  # Cognito id tokens last an hour (the template's IdTokenValidity)  # moto's default account
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "habeas-local",
    "AWS_SECRET_ACCESS_KEY": "habeas-local",  # noqa: S105 - moto accepts any credentials
    "AWS_SESSION_TOKEN": "habeas-local",  # noqa: S105
}

# Local-only secret values, merged over what the template generates. These are the contract's
# documented local defaults (CONTRACT.md "Messaging channels"); never used outside the runtime.
LOCAL_SECRET_SEEDS: dict[str, dict[str, str]] = {
    "ChannelSecret": {"verify_token": "local-verify-token", "app_secret": "local-app-secret"},
}

# Created by moto's CloudFormation from the translated template.
STACK_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Logs::LogGroup",
    }
)
# Created here through the service APIs (moto's CloudFormation skips or breaks on them).
API_TYPES = (
    "AWS::SecretsManager::Secret",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::SSM::Parameter",
)
# KMS key usages and specs that moto's CloudFormation ignores (it makes every key symmetric):
# such keys are created through the KMS API from the template's properties instead.
_SYMMETRIC = {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}
_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


def parameters_from_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Template parameter overrides from ``HABEAS_PARAM_<Name>`` environment variables."""
    environ = os.environ if environ is None else environ
    prefix = "HABEAS_PARAM_"
    return {key[len(prefix) :]: value for key, value in environ.items() if key.startswith(prefix)}


_DYNAMODB_ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "query",
)


@functools.cache
def serialise_dynamodb() -> None:
    """Make moto's DynamoDB item operations atomic with respect to each other.

    DynamoDB runs a transaction as a unit. moto's does not under concurrent requests: it snapshots
    each table it touches (a deep copy) and, when any condition fails, puts the snapshot back, which
    silently undoes every write another thread made to that table meanwhile. One lock around moto's
    item operations gives the local runtime the isolation the real service has, and transactions
    check every condition before writing (``habeas_local.dynamodb``) instead of copying whole tables.
    Applied once per process.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return wrapper

    from habeas_local import dynamodb

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        dynamodb.transact_write_items(self, transact_items)

    # moto's own transaction deep-copies whole tables to roll back: time grows with the table.
    DynamoDBBackend.transact_write_items = transact_write_items
    for name in _DYNAMODB_ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))


def _needs_kms_api(resource: dict[str, Any]) -> bool:
    """An AWS::KMS::Key whose KeySpec or KeyUsage is not the symmetric default."""
    if resource.get("Type") != "AWS::KMS::Key":
        return False
    properties = resource.get("Properties") or {}
    return any(properties.get(name, default) != default for name, default in _SYMMETRIC.items())


@functools.cache
def _cognito_signing_key() -> tuple[Any, str]:
    """moto's Cognito signing key (the private half of the JWKS moto serves for every pool) and its kid."""
    from moto.utilities.utils import load_resource

    private_jwk = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(private_jwk)), private_jwk.get("kid", "dummy")


class EmbeddedAws:
    """moto's server plus the stateful resources of a SAM template; no HTTP API, no workers.

    Use as a context manager. ``params`` override the template defaults (after ``HABEAS_PARAM_*``).
    """

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        params: dict[str, str] | None = None,
        stack_name: str = "habeas",
        region: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.template_path = Path(template_path)
        self.stack_name = stack_name
        self.region = region or _region()
        self.account_id = ACCOUNT_ID
        self.host = host
        self._param_overrides = {**parameters_from_env(), **(params or {})}
        self._server: Any = None
        self.moto_url = ""
        self.template: SamTemplate | None = None
        self.parameters: dict[str, str] = {}
        self.physical_ids: dict[str, str] = {}
        self.resource_types: dict[str, str] = {}
        self.api_endpoint: str | None = None  # set by the HTTP runtime, for GetAtt <HttpApi>.ApiEndpoint
        self.created: dict[str, int] = {}
        self._attribute_cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> EmbeddedAws:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> EmbeddedAws:
        """Start moto, load and translate the template, create its resources."""
        from moto.server import ThreadedMotoServer

        # moto's server logs every request through werkzeug; the runtime prints its own lines.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        serialise_dynamodb()
        self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        try:
            self.template = load_template(self.template_path, self.region)
            self._create_resources()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop moto's server (all state is lost)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def overridden_parameters(self) -> frozenset[str]:
        """The template parameters set by the caller or ``HABEAS_PARAM_*`` rather than defaulted."""
        return frozenset(self._param_overrides)

    # ------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        """A boto3 client on the embedded AWS with dummy credentials (never the shell's)."""
        return boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        ).client(service, endpoint_url=self.moto_url, config=_CLIENT_CONFIG)

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.client(service)
            return self._clients[service]

    # ------------------------------------------------------------------ resolution
    @cached_property
    def resolver(self) -> Resolver:
        """The intrinsic-function resolver bound to this stack's parameters and resources."""
        assert self.template is not None, "start() first"
        cfn = self.template.cfn
        return Resolver(
            parameters=self.parameters,
            pseudo={
                "AWS::Region": self.region,
                "AWS::AccountId": self.account_id,
                "AWS::StackName": self.stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],  # type: ignore[dict-item]
            },
            conditions=cfn.get("Conditions") or {},
            mappings=cfn.get("Mappings") or {},
            ref=self.ref,
            get_att=self.get_att,
        )

    def resolve(self, value: Any, where: str = "value") -> Any:
        """Resolve intrinsics in ``value``; errors name ``where``."""
        return self.resolver.resolve(value, where)

    def ref(self, logical_id: str) -> Any:
        """What ``Ref`` returns for a resource of the template."""
        if logical_id in self.physical_ids:
            return self.physical_ids[logical_id]
        kind = self._type_of(logical_id)
        if kind == "AWS::Lambda::Function":
            return self.function_name(logical_id)
        if kind == "AWS::ApiGatewayV2::Api":
            return "local"
        raise IntrinsicError(f"Ref {logical_id}: a {kind} is not created by the local runtime")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """What ``Fn::GetAtt`` returns, read from the created resource through its service API."""
        key = (logical_id, attribute)
        if key not in self._attribute_cache:
            self._attribute_cache[key] = self._read_attribute(logical_id, attribute)
        return self._attribute_cache[key]

    def _type_of(self, logical_id: str) -> str:
        assert self.template is not None
        resource = (self.template.cfn.get("Resources") or {}).get(logical_id)
        if resource is None:
            raise IntrinsicError(f"{logical_id} is not a resource of the template")
        return resource["Type"]

    def _read_attribute(self, logical_id: str, attribute: str) -> Any:
        kind = self._type_of(logical_id)
        region, account = self.region, self.account_id
        if kind == "AWS::Lambda::Function":
            if attribute == "Arn":
                return f"arn:aws:lambda:{region}:{account}:function:{self.function_name(logical_id)}"
        elif kind == "AWS::ApiGatewayV2::Api":
            if attribute == "ApiEndpoint":
                return self.api_endpoint or f"https://local.execute-api.{region}.amazonaws.com"
            if attribute == "ApiId":
                return "local"
        physical = self.ref(logical_id)
        if kind == "AWS::DynamoDB::Table":
            table = self._client("dynamodb").describe_table(TableName=physical)["Table"]
            value = {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")}.get(attribute)
        elif kind == "AWS::KMS::Key":
            key = self._client("kms").describe_key(KeyId=physical)["KeyMetadata"]
            value = {"Arn": key["Arn"], "KeyId": key["KeyId"]}.get(attribute)
        elif kind == "AWS::SQS::Queue":
            url = self._client("sqs").get_queue_url(QueueName=physical.rsplit("/", 1)[-1])["QueueUrl"]
            arn = self._client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            value = {"Arn": arn["QueueArn"], "QueueName": physical.rsplit("/", 1)[-1], "QueueUrl": physical}.get(
                attribute
            )
        elif kind == "AWS::SNS::Topic":
            value = {"TopicArn": physical, "TopicName": physical.rsplit(":", 1)[-1]}.get(attribute)
        elif kind == "AWS::S3::Bucket":
            value = {
                "Arn": f"arn:aws:s3:::{physical}",
                "DomainName": f"{physical}.s3.amazonaws.com",
                "RegionalDomainName": f"{physical}.s3.{region}.amazonaws.com",
                "DualStackDomainName": f"{physical}.s3.dualstack.{region}.amazonaws.com",
                "WebsiteURL": f"http://{physical}.s3-website-{region}.amazonaws.com",
            }.get(attribute)
        elif kind == "AWS::SecretsManager::Secret":
            value = {"Id": physical}.get(attribute)
        elif kind == "AWS::Cognito::UserPool":
            pool = self._client("cognito-idp").describe_user_pool(UserPoolId=physical)["UserPool"]
            provider = f"cognito-idp.{region}.amazonaws.com/{physical}"
            value = {
                "Arn": pool["Arn"],
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
                "UserPoolId": physical,
            }.get(attribute)
        elif kind == "AWS::Cognito::UserPoolClient":
            value = {"ClientId": physical}.get(attribute)
        elif kind == "AWS::SSM::Parameter":
            parameter = self._client("ssm").get_parameter(Name=physical)["Parameter"]
            value = {"Type": parameter["Type"], "Value": parameter["Value"]}.get(attribute)
        elif kind == "AWS::KMS::Alias":
            value = None
        elif kind == "AWS::Logs::LogGroup":
            value = {"Arn": f"arn:aws:logs:{region}:{account}:log-group:{physical}:*"}.get(attribute)
        else:
            value = None
        if value is None:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) is not available locally")
        return value

    # ------------------------------------------------------------------ functions
    def function_name(self, logical_id: str) -> str:
        """The Lambda function name (FunctionName, or CloudFormation's ``<stack>-<LogicalId>``)."""
        assert self.template is not None
        spec = self.template.functions.get(logical_id)
        if spec and spec.function_name:
            return spec.function_name
        return f"{self.stack_name}-{logical_id}"

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The resolved ``Environment.Variables`` the template gives a function (globals merged)."""
        assert self.template is not None, "start() first"
        spec = self.template.functions.get(logical_id)
        if spec is None:
            raise KeyError(f"{logical_id} is not a function of {self.template_path}")
        env = {}
        for name, value in spec.environment.items():
            resolved = self.resolve(value, f"function {logical_id}, variable {name}")
            if resolved is None:  # AWS::NoValue
                continue
            if isinstance(resolved, list | dict):
                raise IntrinsicError(f"function {logical_id}, variable {name}: resolves to a {type(resolved).__name__}")
            env[name] = ("true" if resolved else "false") if isinstance(resolved, bool) else str(resolved)
        return env

    def function_setting(self, logical_id: str, name: str) -> int:
        """A numeric setting (Timeout, MemorySize) of a function, resolved."""
        assert self.template is not None
        spec = self.template.functions[logical_id]
        raw = {"Timeout": spec.timeout, "MemorySize": spec.memory_size}[name]
        return int(self.resolve(raw, f"function {logical_id}, {name}"))

    # ------------------------------------------------------------------ creation
    def _create_resources(self) -> None:
        assert self.template is not None
        cfn = self.template.cfn
        declared = cfn.get("Parameters") or {}
        unknown = set(self._param_overrides) - set(declared)
        if unknown:
            raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        self.parameters.update(self.template.parameter_defaults())
        self.parameters.update(self._param_overrides)
        resources = cfn.get("Resources") or {}
        self.resource_types = {logical_id: r["Type"] for logical_id, r in resources.items()}
        self._create_stack(cfn)
        self._serialise_key_policies()
        self._create_through_apis(resources)
        self._apply_time_to_live(resources)
        self._apply_bucket_versioning(resources)
        self._verify_sender()
        self.created = {}
        for logical_id in self.physical_ids:
            kind = self.resource_types[logical_id]
            self.created[kind] = self.created.get(kind, 0) + 1

    def _serialise_key_policies(self) -> None:
        """Store the stack's KMS key policies as JSON text, as KMS does.

        moto's CloudFormation keeps ``KeyPolicy`` as the template's mapping, and its own policy check
        then fails every ``DescribeKey`` on that key with a server error.
        """
        from moto.kms.models import kms_backends

        for key in kms_backends[self.account_id][self.region].keys.values():
            if isinstance(key.policy, dict):
                key.policy = json.dumps(key.policy)

    def _create_stack(self, cfn: dict[str, Any]) -> None:
        kept = {
            logical_id: dict(resource)
            for logical_id, resource in (cfn.get("Resources") or {}).items()
            if resource["Type"] in STACK_TYPES and not _needs_kms_api(resource)
        }
        for resource in kept.values():
            depends = resource.get("DependsOn")
            if depends:  # only dependencies the stack itself holds
                depends = [d for d in ([depends] if isinstance(depends, str) else depends) if d in kept]
                resource["DependsOn"] = depends
                if not depends:
                    del resource["DependsOn"]
        body = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": cfn.get("Parameters") or {},
            "Resources": kept,
        }
        for section in ("Conditions", "Mappings"):
            if cfn.get(section):
                body[section] = cfn[section]
        if not kept:  # CloudFormation refuses an empty stack; nothing to create anyway
            return
        cloudformation = self._client("cloudformation")
        cloudformation.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()],
        )
        stack = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(f"stack {self.stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        paginator = cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("PhysicalResourceId"):
                    self.physical_ids[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]

    def _create_through_apis(self, resources: dict[str, Any]) -> None:
        pending = [logical_id for kind in API_TYPES for logical_id, r in resources.items() if r["Type"] == kind]
        creators = {
            "AWS::SecretsManager::Secret": self._create_secret,
            "AWS::Cognito::UserPool": self._create_user_pool,
            "AWS::Cognito::UserPoolClient": self._create_user_pool_client,
            "AWS::Cognito::UserPoolGroup": self._create_user_pool_group,
            "AWS::SSM::Parameter": self._create_ssm_parameter,
        }
        # Asymmetric (e.g. SIGN_VERIFY) keys first: anything else may refer to them.
        pending = [logical_id for logical_id, r in resources.items() if _needs_kms_api(r)] + pending
        creators["AWS::KMS::Key"] = self._create_kms_key
        for logical_id in pending:  # API_TYPES order puts pools before clients and groups
            resource = resources[logical_id]
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition, f"resource {logical_id}"):
                continue
            properties = self.resolve(resource.get("Properties") or {}, f"resource {logical_id}")
            self.physical_ids[logical_id] = creators[resource["Type"]](logical_id, properties)

    def _create_kms_key(self, logical_id: str, properties: dict[str, Any]) -> str:
        """A KMS key with the template's KeySpec and KeyUsage (moto's CloudFormation drops both)."""
        request: dict[str, Any] = {
            "KeySpec": properties.get("KeySpec", _SYMMETRIC["KeySpec"]),
            "KeyUsage": properties.get("KeyUsage", _SYMMETRIC["KeyUsage"]),
            "Description": properties.get("Description") or f"{self.stack_name}-{logical_id}",
        }
        if properties.get("KeyPolicy"):
            policy = properties["KeyPolicy"]
            request["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        if properties.get("Tags"):
            request["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]]
        return self._client("kms").create_key(**request)["KeyMetadata"]["KeyId"]

    def _create_secret(self, logical_id: str, properties: dict[str, Any]) -> str:
        secrets = self._client("secretsmanager")
        generate = properties.get("GenerateSecretString")
        if "SecretString" in properties:
            value = str(properties["SecretString"])
        elif generate is not None:
            options = {
                key: generate[key]
                for key in (
                    "PasswordLength",
                    "ExcludeCharacters",
                    "ExcludeNumbers",
                    "ExcludePunctuation",
                    "ExcludeUppercase",
                    "ExcludeLowercase",
                    "IncludeSpace",
                    "RequireEachIncludedType",
                )
                if key in generate
            }
            password = secrets.get_random_password(**options)["RandomPassword"]
            if "SecretStringTemplate" in generate:
                document = json.loads(generate["SecretStringTemplate"])
                document[generate.get("GenerateStringKey", "password")] = password
                value = json.dumps(document)
            else:
                value = password
        else:
            value = ""
        seed = LOCAL_SECRET_SEEDS.get(logical_id)
        if seed:
            document = json.loads(value) if value.startswith("{") else {}
            value = json.dumps({**document, **seed})
        request: dict[str, Any] = {
            "Name": properties.get("Name") or f"{self.stack_name}-{logical_id}",
            "SecretString": value,
        }
        for key in ("Description", "KmsKeyId"):
            if properties.get(key):
                request[key] = properties[key]
        if properties.get("Tags"):
            request["Tags"] = properties["Tags"]
        return secrets.create_secret(**request)["ARN"]

    def _call_with_properties(
        self,
        service: str,
        operation: str,
        properties: dict[str, Any],
        renames: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Call ``operation`` with the template properties its input shape accepts."""
        client = self._client(service)
        model = client.meta.service_model.operation_model(operation)
        members = model.input_shape.members
        request = dict(extra)
        for key, value in properties.items():
            name = (renames or {}).get(key, key)
            if name in members:
                request.setdefault(name, value)
            else:  # e.g. EnabledMfas: a separate API in AWS; nothing local depends on it
                log.debug("%s: property %s has no %s parameter; not applied locally", service, key, operation)
        method = getattr(client, "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_"))
        return method(**request)

    def _create_user_pool(self, logical_id: str, properties: dict[str, Any]) -> str:
        properties = dict(properties)
        properties.setdefault("UserPoolName", f"{self.stack_name}-{logical_id}")
        pool = self._call_with_properties("cognito-idp", "CreateUserPool", properties, {"UserPoolName": "PoolName"})
        return pool["UserPool"]["Id"]

    def _create_user_pool_client(self, logical_id: str, properties: dict[str, Any]) -> str:
        properties = dict(properties)
        properties.setdefault("ClientName", f"{self.stack_name}-{logical_id}")
        created = self._call_with_properties("cognito-idp", "CreateUserPoolClient", properties)
        return created["UserPoolClient"]["ClientId"]

    def _create_user_pool_group(self, logical_id: str, properties: dict[str, Any]) -> str:
        properties = dict(properties)
        properties.setdefault("GroupName", f"{self.stack_name}-{logical_id}")
        created = self._call_with_properties("cognito-idp", "CreateGroup", properties)
        return created["Group"]["GroupName"]

    def _create_ssm_parameter(self, logical_id: str, properties: dict[str, Any]) -> str:
        properties = dict(properties)
        # CloudFormation names an unnamed parameter itself (moto's CloudFormation fails on it).
        properties.setdefault("Name", f"CFN-{logical_id}-{self.stack_name}")
        tags = properties.pop("Tags", None)
        extra = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if isinstance(tags, dict) else {}
        self._call_with_properties("ssm", "PutParameter", properties, **extra)
        return properties["Name"]

    def _apply_time_to_live(self, resources: dict[str, Any]) -> None:
        dynamodb = self._client("dynamodb")
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::DynamoDB::Table" or logical_id not in self.physical_ids:
                continue
            spec = self.resolve((resource.get("Properties") or {}).get("TimeToLiveSpecification"), logical_id)
            if spec and str(spec.get("Enabled")).lower() == "true":
                dynamodb.update_time_to_live(
                    TableName=self.physical_ids[logical_id],
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["AttributeName"]},
                )

    def _apply_bucket_versioning(self, resources: dict[str, Any]) -> None:
        """Turn on the versioning a bucket's template asks for (moto's CloudFormation skips it)."""
        s3 = self._client("s3")
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::S3::Bucket" or logical_id not in self.physical_ids:
                continue
            config = self.resolve((resource.get("Properties") or {}).get("VersioningConfiguration"), logical_id)
            if config and config.get("Status") in ("Enabled", "Suspended"):
                s3.put_bucket_versioning(
                    Bucket=self.physical_ids[logical_id], VersioningConfiguration={"Status": config["Status"]}
                )

    def _verify_sender(self) -> None:
        sender = self.parameters.get("SenderEmail")
        if sender:
            ses = self._client("ses")
            ses.verify_email_identity(EmailAddress=sender)
            if "@" in sender:
                ses.verify_domain_identity(Domain=sender.split("@", 1)[1])

    # ------------------------------------------------------------------ staff tokens
    def staff_pool(self) -> tuple[str, str]:
        """The template's user pool id and the app client id its tokens are issued to.

        The first ``AWS::Cognito::UserPool`` of the template, and its first ``UserPoolClient``.
        """
        pools = self.logical_ids("AWS::Cognito::UserPool")
        if not pools:
            raise LookupError(f"{self.template_path} has no AWS::Cognito::UserPool")
        pool_id = self.ref(pools[0])
        client_ids = self.client("cognito-idp").list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
        clients = [c["ClientId"] for c in client_ids["UserPoolClients"]]
        if not clients:
            raise LookupError(f"user pool {pools[0]} has no app client")
        return pool_id, clients[0]

    def staff_token(
        self,
        sub: str,
        groups: list[str] | tuple[str, ...] = (),
        *,
        email: str | None = None,
        expires_in: int = STAFF_TOKEN_TTL,
        expired: bool = False,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> str:
        """An id token shaped like the one the template's user pool issues (RS256, ``kid``).

        Signed with moto's own Cognito key, so the JWKS that moto serves for the pool verifies it.
        ``expired``, ``audience`` and ``issuer`` make deliberately bad tokens for tests.
        """
        pool_id, client_id = self.staff_pool()
        key, kid = _cognito_signing_key()
        now = int(time.time())
        issued = now - expires_in - 60 if expired else now
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": issuer or f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}",
            "aud": audience or client_id,
            "token_use": "id",
            "cognito:username": sub,
            "cognito:groups": list(groups),
            "auth_time": issued,
            "iat": issued,
            "exp": issued + expires_in,
            "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
        }
        if email:
            claims["email"] = email
            claims["email_verified"] = True
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def jwks_url(self, issuer: str) -> str:
        """Where the embedded AWS serves a Cognito issuer's keys.

        ``https://cognito-idp.<region>.amazonaws.com/<pool id>`` → ``<moto url>/<pool id>/.well-known/jwks.json``,
        the rule ``habeas.tokens.staff_jwks_url`` applies when ``AWS_ENDPOINT_URL`` is set.
        """
        pool_id = issuer.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.moto_url}/{pool_id}/.well-known/jwks.json"

    # ------------------------------------------------------------------ summaries
    def summary(self) -> str:
        """One line: what was created, by type."""
        parts = [f"{count} {kind.split('::', 1)[1]}" for kind, count in sorted(self.created.items())]
        return ", ".join(parts) or "nothing"

    def logical_ids(self, kind: str) -> list[str]:
        """Logical ids of the created resources of one CloudFormation type."""
        return [logical_id for logical_id in self.physical_ids if self.resource_types.get(logical_id) == kind]

"""Where moto 5.2.5 is kinder or stranger than AWS in ways the tests depend on, made like AWS: in one place.

Each shim says what AWS does, what moto does instead, and is installed only by ``install`` for the moto version
it was written for (another version fails loudly, so a shim is re-checked rather than silently misapplied).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import moto
import pytest
from moto.cloudformation import parsing
from moto.cloudformation.models import ChangeSet
from moto.cloudformation.parsing import ResourceMap
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends
from moto.secretsmanager.utils import random_password

WRITTEN_FOR = "5.2.5"


class GeneratedSecret(CloudFormationModel):  # type: ignore[misc]  # moto has no type information
    """``AWS::SecretsManager::Secret`` with ``GenerateSecretString``: moto's CloudFormation has no model for it and
    drops every reference to it (the hub's ExternalId secret and its output)."""

    def __init__(self, arn: str) -> None:
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn  # Ref to a secret is its ARN

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
    ) -> GeneratedSecret:
        properties = cloudformation_json["Properties"]
        generate = properties.get("GenerateSecretString", {})
        value = random_password(
            password_length=int(generate.get("PasswordLength", 32)),
            exclude_characters=generate.get("ExcludeCharacters", ""),
            exclude_numbers=False,
            exclude_punctuation=str(generate.get("ExcludePunctuation", False)).lower() == "true",
            exclude_uppercase=False,
            exclude_lowercase=False,
            include_space=str(generate.get("IncludeSpace", False)).lower() == "true",
            require_each_included_type=True,
        )
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=properties.get("Name", resource_name),
            secret_string=properties.get("SecretString", value),
            secret_binary=None,
            description=properties.get("Description"),
            tags=[],
            kms_key_id=properties.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"] if isinstance(created, str) else created["ARN"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> Any:
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


def _added_in_dependency_order(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """moto adds a change set's resources in template order, ignoring ``DependsOn``; AWS honours it (the approval
    API's deployment must come after its methods)."""

    def build_resource_diff(self: ResourceMap, template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        diff = original(self, template, parameters)
        resources, ordered = template["Resources"], []

        def visit(name: str) -> None:
            if name in ordered or name not in diff["Add"]:
                return
            depends = resources[name].get("DependsOn", [])
            for dependency in [depends] if isinstance(depends, str) else depends:
                visit(dependency)
            ordered.append(name)

        for name in diff["Add"]:
            visit(name)
        return {**diff, "Add": ordered}

    return build_resource_diff


def _apply_with_outputs(original: Callable[[ChangeSet], None]) -> Callable[[ChangeSet], None]:
    """moto applies a change set's resources but never evaluates the stack's outputs again; AWS does (the deploy
    reads the hub's outputs after executing its change set)."""

    def apply(change_set: ChangeSet) -> None:
        original(change_set)
        change_set.stack.template_dict = change_set.template_dict
        change_set.stack.output_map = change_set.stack._create_output_map()

    return apply


def check_version() -> None:
    if moto.__version__ != WRITTEN_FOR:
        raise RuntimeError(
            f"tests/support/moto_shims.py was written for moto {WRITTEN_FOR}, this is {moto.__version__}: check each "
            "shim against the new moto (some may be fixed there) and update WRITTEN_FOR"
        )


def install_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    """CloudFormation as deploys meet it: generated secrets exist, and change sets honour DependsOn."""
    check_version()
    monkeypatch.setattr(ResourceMap, "build_resource_diff", _added_in_dependency_order(ResourceMap.build_resource_diff))
    monkeypatch.setattr(ChangeSet, "apply", _apply_with_outputs(ChangeSet.apply))
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    monkeypatch.setattr(parsing, "get_model_list", lambda: [*CloudFormationModel.__subclasses__()])

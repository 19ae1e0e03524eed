"""Least privilege both ways, from evidence.

Compares the AWS operations each function performed during the integration suite (recorded by
the local runner's operation log, one JSON object per line) with the IAM policies SAM generates
for it from infra/template.yaml (expanded by SAM's own translator, samtranslator):

- every recorded operation must be allowed by the function's policies (else it fails on AWS);
- every action and every resource of every policy statement must be used by some recorded
  operation of that function (else the grant is more than the code needs).

Then, to show the check can fail, it removes each statement in turn and expects a failure.

Run with the SAM virtualenv's Python (it has samtranslator):
    .tools/sam/bin/python tests/iam/check_policies.py infra/template.yaml target/iam/operations.jsonl
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import sys
from dataclasses import dataclass

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

REGION, ACCOUNT = "us-east-1", "123456789012"
# samtranslator reads the region from the environment; any region gives the same policies.
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


class NoManagedPolicies:
    """The template names managed policies by ARN only, so there is nothing to look up."""

    def load(self):
        return {}


@dataclass(frozen=True)
class Statement:
    function: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def allows(self, action: str, resource: str) -> bool:
        return any(matches(a, action) for a in self.actions) and any(matches(r, resource) for r in self.resources)


def matches(pattern: str, value: str) -> bool:
    # IAM wildcards: `*` any run of characters, `?` one; actions are case-insensitive.
    if ":" in pattern and not pattern.startswith("arn:"):
        return fnmatch.fnmatchcase(value.lower(), pattern.lower())
    return fnmatch.fnmatchcase(value, pattern)


def resolve(value, resources: dict) -> str:
    """Renders an intrinsic-function value as the string it becomes on AWS, for one account."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        name = value["Ref"]
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
        if name in pseudo:
            return pseudo[name]
        kind = resources.get(name, {}).get("Type")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind == "AWS::SecretsManager::Secret":
            return secret_arn(name)
        return name
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        name, attribute = target if isinstance(target, list) else target.split(".", 1)
        kind = resources.get(name, {}).get("Type")
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return name
        raise ValueError(f"cannot render GetAtt {name}.{attribute} ({kind})")
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else sub
        out, i = "", 0
        while i < len(text):
            if text.startswith("${", i):
                end = text.index("}", i)
                name = text[i + 2 : end]
                if name in variables:
                    out += resolve(variables[name], resources)
                elif "." in name:
                    out += resolve({"Fn::GetAtt": name.split(".", 1)}, resources)
                else:
                    out += resolve({"Ref": name}, resources)
                i = end + 1
            else:
                out += text[i]
                i += 1
        return out
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(p, resources) for p in parts)
    raise ValueError(f"cannot render {value}")


def secret_arn(logical_id: str) -> str:
    # A secret's ARN ends in a random suffix AWS adds; `!Ref` gives it whole.
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical_id}-AbCdEf"


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict) -> dict[str, list[Statement]]:
    """Per function (by crate name): the Allow statements of the role SAM generates for it."""
    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # What `sam package` does before the transform runs on AWS.
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
    cloudformation = transform(packaged, {}, NoManagedPolicies())
    resources = cloudformation["Resources"]
    statements: dict[str, list[Statement]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        function = resource["Properties"]["CodeUri"].rstrip("/").rsplit("/", 1)[-1]
        role = resources[f"{logical_id}Role"]["Properties"]
        dead_letter = resource["Properties"].get("DeadLetterQueue")
        found = []
        for policy in role.get("Policies", []):
            if policy["PolicyName"] == "DeadLetterQueuePolicy":
                # SAM's grant for the function's `DeadLetterQueue`: the Lambda service sends a
                # failed asynchronous invocation there, the code never does. It must be exactly that.
                target = resolve(dead_letter["TargetArn"], resources) if dead_letter else None
                for statement in as_list(policy["PolicyDocument"]["Statement"]):
                    granted = (tuple(as_list(statement["Action"])), tuple(resolve(r, resources) for r in as_list(statement["Resource"])))
                    assert granted == (("sqs:SendMessage",), (target,)), f"{function}: unexpected dead-letter grant {granted}"
                continue
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                if statement["Effect"] != "Allow":
                    continue
                actions = tuple(as_list(statement["Action"]))
                rendered = tuple(resolve(r, resources) for r in as_list(statement["Resource"]))
                found.append(Statement(function, actions, rendered))
        statements[function] = found
    return statements


def recorded_operations(path: str, template: dict) -> set[tuple[str, str, str]]:
    """(function, action, resource ARN) for every recorded call, local names mapped to the
    template's resources: the tables, and queues and secrets named `<prefix>-<LogicalId>`.

    Calls of the idempotency middleware (`via: idempotency`) are one unit: every function seen
    using it needs everything the middleware was seen doing for any function (claim, replay,
    completion, and giving a key up after a 5xx, which tests reach for some routes only)."""
    tables = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    queues = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
    secrets = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SecretsManager::Secret"]
    # The local runner names the main table after the stack and the others `<stack>-<LogicalId>`.
    main_table = "EventsTable"
    assert main_table in tables, "the mapping below assumes the main table is EventsTable"
    operations = set()
    middleware, middleware_users = set(), set()
    with open(path) as lines:
        for line in lines:
            call = json.loads(line)
            resource = call["resource"]
            if resource.startswith("table/"):
                index = resource.split("/index/", 1)[1] if "/index/" in resource else None
                name = resource.removeprefix("table/").split("/index/", 1)[0]
                table = next((t for t in tables if t != main_table and name.endswith(f"-{t}")), main_table)
                arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
                resource = f"{arn}/index/{index}" if index else arn
            elif call["action"].startswith("sqs:") and resource not in ("*", "?"):
                name = resource.rstrip("/").rsplit("/", 1)[-1]
                queue = next((q for q in queues if name.endswith(f"-{q}")), None)
                resource = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}" if queue else f"unknown queue {name}"
            elif resource.startswith("secret/"):
                name = resource.removeprefix("secret/")
                secret = next((s for s in secrets if name.endswith(f"-{s}")), None)
                resource = secret_arn(secret) if secret else f"unknown secret {name}"
            operations.add((call["function"], call["action"], resource))
            if call.get("via") == "idempotency":
                middleware.add((call["action"], resource))
                middleware_users.add(call["function"])
    operations |= {(f, a, r) for f in middleware_users for a, r in middleware}
    return operations


def problems(statements: dict[str, list[Statement]], operations: set[tuple[str, str, str]]) -> list[str]:
    found = []
    for function, action, resource in sorted(operations):
        if function not in statements:
            found.append(f"{function}: recorded, but no such function in the template")
        elif not any(s.allows(action, resource) for s in statements[function]):
            found.append(f"{function}: performs {action} on {resource}, which its policies do not allow")
    for function, granted in sorted(statements.items()):
        used = [(a, r) for f, a, r in operations if f == function]
        for statement in granted:
            # Every (action, resource) pair a statement grants must be used, not just each
            # action somewhere and each resource somewhere.
            for action in statement.actions:
                for pattern in statement.resources:
                    if not any(matches(action, a) and matches(pattern, r) for a, r in used):
                        found.append(f"{function}: is granted {action} on {pattern} but never uses it")
    return found


def main() -> int:
    template_path, log_path = sys.argv[1], sys.argv[2]
    with open(template_path) as source:
        template = yaml_parse(source.read())
    statements = policy_statements(template)
    operations = recorded_operations(log_path, template)
    found = problems(statements, operations)
    for problem in found:
        print(f"IAM: {problem}")
    if found:
        return 1

    # The check must be able to fail: without any one statement, some recorded call is refused.
    survivors = []
    for function, granted in statements.items():
        for i, statement in enumerate(granted):
            fewer = dict(statements)
            fewer[function] = granted[:i] + granted[i + 1 :]
            if not problems(fewer, operations):
                survivors.append(f"{function}: {statement}")
    for survivor in survivors:
        print(f"IAM: removing this statement goes unnoticed: {survivor}")
    if survivors:
        return 1

    count = sum(len(s) for s in statements.values())
    functions = sum(1 for s in statements.values() if s)
    print(
        f"IAM: {len(operations)} recorded operations of {len({f for f, _, _ in operations})} functions match "
        f"{count} statements of {functions} functions both ways; removing any one statement fails the check"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

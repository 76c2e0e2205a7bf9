"""docs/api.md, the API reference in the repository, stays in step with /openapi.json: the same
endpoints, and for each the statuses and error keys the document gives it. The failures say
what to write, so a new route comes with its section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.live import ROOT

REFERENCE = ROOT / "docs" / "api.md"
METHODS = ("get", "post", "put", "patch", "delete")
HEADING = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) (/\S*)`\s*$", re.MULTILINE)
# Keys explained once under "Answers every endpoint can give"; a section may only name them.
COMMON_KEYS = {"token", "csrf", "body", "request", "server"}


def sections(text: str) -> dict[str, str]:
    """`METHOD /path` -> the text of its section (up to the next heading of any level)."""
    found: dict[str, str] = {}
    matches = list(HEADING.finditer(text))
    for match in matches:
        rest = text[match.end() :]
        end = re.search(r"^#{1,3} ", rest, re.MULTILINE)
        found[f"{match[1]} {match[2]}"] = rest[: end.start() if end else len(rest)]
    return found


def documented(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def error_keys(response: dict[str, Any]) -> set[str]:
    media = response.get("content", {}).get("application/json", {})
    keys: set[str] = set()
    for example in media.get("examples", {}).values():
        value = example["value"]
        if isinstance(value, dict) and set(value) == {"errors"}:
            keys |= set(value["errors"])
    return keys


def skeleton(name: str, operation: dict[str, Any]) -> str:
    security = operation.get("security")
    auth = "none" if not security else "optional token" if {} in security else "token required"
    lines = [f"### `{name}`", "", f"{operation.get('summary', '...')} Auth: {auth}.", ""]
    for status, response in operation["responses"].items():
        keys = ", ".join(f"`{key}`" for key in sorted(error_keys(response)))
        lines.append(f"- {status}: {keys or '...'}")
    return "\n".join(lines)


async def test_api_reference_has_every_endpoint_and_only_those(client):
    document = await (await client.get("/openapi.json")).get_json()
    operations = documented(document)
    written = sections(REFERENCE.read_text())
    problems = [
        f"docs/api.md has no section for `{name}`. Add one under "
        f"`## {operations[name].get('tags', ['?'])[0].capitalize()}`, e.g.:"
        f"\n\n{skeleton(name, operations[name])}\n"
        for name in operations
        if name not in written
    ]
    problems += [
        f"docs/api.md has a section for `{name}`, which /openapi.json does not list: remove it,"
        " or document the route (a route hidden from the OpenAPI document has no section)."
        for name in written
        if name not in operations
    ]
    assert not problems, "\n".join(problems)


async def test_each_section_names_its_statuses_and_error_keys(client):
    document = await (await client.get("/openapi.json")).get_json()
    written = sections(REFERENCE.read_text())
    problems = []
    for name, operation in documented(document).items():
        text = written.get(name)
        if text is None:
            continue  # the test above names it
        for status, response in operation["responses"].items():
            if not re.search(rf"\b{status}\b", text):
                problems.append(
                    f"docs/api.md, `{name}`: add status {status} "
                    f"({response['description'].splitlines()[0]})"
                )
            for key in sorted(error_keys(response) - COMMON_KEYS):
                if f"`{key}`" not in text:
                    problems.append(
                        f"docs/api.md, `{name}`: name the error key `{key}` of its {status}"
                    )
    assert not problems, "\n".join(problems)


def test_the_docs_link_only_inside_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    problems = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)", page.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
                problems.append(f"{page.name}: {target} is outside the repository")
                continue
            path = target.split("#")[0]
            if path and not _inside(page.parent / path):
                problems.append(f"{page.name}: {target} is not a file of the repository")
    assert not problems, "\n".join(problems)


def _inside(path: Path) -> bool:
    resolved = path.resolve()
    return resolved.is_relative_to(ROOT) and resolved.exists()

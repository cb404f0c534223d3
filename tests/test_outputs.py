"""tailcfg.outputs: text, JSON, GitHub workflow commands and SARIF 2.1.0 (schema-checked)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from tailcfg import outputs
from tailcfg.policy.validate.lint import RULES, lint_text
from tailcfg.source import Diagnostic, Severity, Span

SARIF_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"


@dataclass(frozen=True)
class Report:
    path: str
    diagnostics: tuple[Diagnostic, ...]


def diag(
    message: str,
    code: str = "undefined-tag",
    severity: Severity = Severity.ERROR,
    path: str = "policy.hujson",
    notes: tuple[str, ...] = (),
) -> Diagnostic:
    return Diagnostic(Span(path, 3, 5, 3, 12, 40, 47), message, code, severity, notes)


REPORTS = [
    Report(
        "policy.hujson",
        (
            diag('src=tag not found: "tag:web"'),
            diag(
                'group "group:x" is declared but not used by any rule',
                "unused-group",
                Severity.WARNING,
            ),
        ),
    ),
    Report("other/policy two.hujson", ()),
]


def test_text() -> None:
    assert outputs.render_text(REPORTS) == (
        'policy.hujson:3:5: error[undefined-tag]: src=tag not found: "tag:web"\n'
        'policy.hujson:3:5: warning[unused-group]: group "group:x" is declared but not used by '
        "any rule\n"
        "2 files checked: 1 error, 1 warning\n"
    )


def test_json_shape() -> None:
    assert json.loads(outputs.render_json(REPORTS)) == {
        "version": 1,
        "files": [
            {
                "path": "policy.hujson",
                "diagnostics": [
                    {
                        "severity": "error",
                        "code": "undefined-tag",
                        "message": 'src=tag not found: "tag:web"',
                        "line": 3,
                        "col": 5,
                        "end_line": 3,
                        "end_col": 12,
                        "notes": [],
                    },
                    {
                        "severity": "warning",
                        "code": "unused-group",
                        "message": 'group "group:x" is declared but not used by any rule',
                        "line": 3,
                        "col": 5,
                        "end_line": 3,
                        "end_col": 12,
                        "notes": [],
                    },
                ],
            },
            {"path": "other/policy two.hujson", "diagnostics": []},
        ],
        "summary": {"files": 2, "errors": 1, "warnings": 1, "notes": 0},
    }


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k:v,w", "k:v,w", "k%3Av%2Cw"),
        ("%0A", "%250A", "%250A"),
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_github_escaping(text: str, data: str, prop: str) -> None:
    assert outputs.escape_github_data(text) == data
    assert outputs.escape_github_property(text) == prop


def test_github_annotations() -> None:
    reports = [
        Report(
            "dir,x/p:1.hujson",
            (
                diag("bad\nthing 50%", notes=("see docs",)),
                diag("unused", "unused-host", Severity.WARNING),
                diag("fyi", "info", Severity.NOTE),
            ),
        )
    ]
    assert outputs.render_github(reports).splitlines() == [
        "::error file=dir%2Cx/p%3A1.hujson,line=3,col=5,endLine=3,endColumn=12,"
        "title=tailcfg undefined-tag::bad%0Athing 50%25%0Anote: see docs",
        "::warning file=dir%2Cx/p%3A1.hujson,line=3,col=5,endLine=3,endColumn=12,"
        "title=tailcfg unused-host::unused",
        "::notice file=dir%2Cx/p%3A1.hujson,line=3,col=5,endLine=3,endColumn=12,"
        "title=tailcfg info::fyi",
    ]
    assert outputs.render_github([Report("clean.hujson", ())]) == ""


def sarif_errors(log: dict[str, Any]) -> list[str]:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return [e.message for e in Draft4Validator(schema).iter_errors(log)]


def test_sarif_validates_against_the_sarif_2_1_0_schema() -> None:
    log = json.loads(
        outputs.render_sarif(
            REPORTS,
            tool_version="1.2.3",
            information_uri="https://example.com/tailcfg",
            rule_descriptions=RULES,
        )
    )
    assert sarif_errors(log) == []
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert run["tool"]["driver"] == {
        "name": "tailcfg",
        "version": "1.2.3",
        "informationUri": "https://example.com/tailcfg",
        "rules": [
            {
                "id": "undefined-tag",
                "name": "UndefinedTag",
                "shortDescription": {"text": RULES["undefined-tag"]},
                "defaultConfiguration": {"level": "error"},
            },
            {
                "id": "unused-group",
                "name": "UnusedGroup",
                "shortDescription": {"text": RULES["unused-group"]},
                "defaultConfiguration": {"level": "warning"},
            },
        ],
    }
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["results"][1] == {
        "ruleId": "unused-group",
        "ruleIndex": 1,
        "level": "warning",
        "message": {"text": 'group "group:x" is declared but not used by any rule'},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "policy.hujson"},
                    "region": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 12},
                }
            }
        ],
    }


def test_sarif_of_real_lint_results_validates(repo_root: Path) -> None:
    golden = repo_root / "tests" / "golden" / "lint"
    results = [
        lint_text(path.read_text(encoding="utf-8"), f"tests/golden/lint/{path.name}")
        for path in sorted(golden.glob("*.hujson"))
    ]
    log = json.loads(outputs.render_sarif(results, rule_descriptions=RULES))
    assert sarif_errors(log) == []
    count = sum(len(r.diagnostics) for r in results)
    assert len(log["runs"][0]["results"]) == count > 20
    assert sarif_errors(json.loads(outputs.render_sarif([]))) == []


def test_sarif_schema_rejects_a_broken_log() -> None:
    log = json.loads(outputs.render_sarif(REPORTS))
    del log["runs"][0]["tool"]
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert len(sarif_errors(log)) == 2


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("policy.hujson", "policy.hujson"),
        ("dir/my policy.hujson", "dir/my%20policy.hujson"),
        ("ä/#1.hujson", "%C3%A4/%231.hujson"),
        ("/srv/policy.hujson", "file:///srv/policy.hujson"),
        ("C:\\repo\\policy.hujson", "file:///C:/repo/policy.hujson"),
    ],
)
def test_artifact_uri(path: str, uri: str) -> None:
    assert outputs.artifact_uri(path) == uri

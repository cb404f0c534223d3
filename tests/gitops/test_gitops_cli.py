"""tailcfg policy push / pull / drift through the CLI, against the embedded control plane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitops_helpers import (
    DIALECTS,
    Checkout,
    Control,
    console_edit,
    make_checkout,
    recommented,
    widened,
)

from tailcfg.cli.main import main
from tailcfg.gitops import predict_etag


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, control: Control) -> None:
    for name in ("TAILSCALE_OAUTH_CLIENT_ID", "TAILSCALE_OAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TAILSCALE_API_KEY", control.admin_key)
    monkeypatch.setenv("HEADSCALE_API_KEY", control.admin_key)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _remote(control: Control, dialect: str) -> str:
    if dialect == "headscale":
        return f"headscale {control.url}"
    return f"tailscale {control.url} example.com"


def _console(tmp_path: Path, control: Control, dialect: str, text: str) -> str:
    """Edit the remote policy outside the repository; its new ETag."""
    console = make_checkout(tmp_path / "console", control, dialect)
    with console.client() as client:
        return client.put(text, if_match=client.get().etag).etag


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("dialect", DIALECTS)
def test_cli_push_no_op_and_refused_drift(
    tmp_path: Path,
    control: Control,
    homelab_policy: str,
    dialect: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    monkeypatch.chdir(repo.inventory.root_dir)
    remote = _remote(control, dialect)
    base = predict_etag(homelab_policy)

    code, out, err = run(capsys, "policy", "push", "--dry-run")
    assert (code, err) == (0, "dry run: would push\n")
    assert out.splitlines()[2:4] == [
        "recorded  none",
        "diff remote -> local (semantic): differs in access",
    ]
    assert run(capsys, "policy", "push")[::2] == (0, f"pushed policy.hujson: ETag {base}\n")
    code, out, err = run(capsys, "policy", "push")
    assert (code, err) == (0, "no change: the remote already holds policy.hujson\n")
    assert out.splitlines()[0] == f"remote    {remote}  ETag {base[:16]}"
    assert out.splitlines()[3] == "diff remote -> local (semantic): identical"

    edited = _console(tmp_path, control, dialect, console_edit(homelab_policy))
    repo.write(widened(homelab_policy))
    local = predict_etag(widened(homelab_policy))
    code, out, err = run(capsys, "policy", "push")
    recorded = repo.state().recorded(remote)
    assert recorded is not None
    refusal = (
        "refusing to push: the remote policy was edited outside this repository since the"
        " last push\n"
        f"  remote ETag:   {edited}\n"
        f"  recorded ETag: {base} (push at {recorded.recorded})\n"
        f"  local ETag:    {local} (predicted)\n"
        "Review the diff; take the remote's edits in with `tailcfg policy pull`, or"
        " overwrite them with `tailcfg policy push --force`.\n"
    )
    assert (code, err) == (1, refusal)
    assert out.splitlines()[:4] == [
        f"remote    {remote}  ETag {edited[:16]}",
        f"local     policy.hujson  ETag {local[:16]} (predicted)",
        f"recorded  {base[:16]} (push at {recorded.recorded})",
        "diff remote -> local (semantic): differs in access",
    ]
    assert "8080" in out and "8443" in out
    assert run(capsys, "policy", "push", "--dry-run")[::2] == (
        1,
        f"dry run: would refuse\n{refusal}",
    )
    assert control.stored_policy()[0] == console_edit(homelab_policy)

    code, out, err = run(capsys, "policy", "drift")
    assert code == 1
    assert (
        out.splitlines()[-1] == "the remote was edited outside this repository since the last push"
    )

    assert run(capsys, "policy", "push", "--force")[::2] == (
        0,
        f"pushed policy.hujson: ETag {local}\n",
    )
    assert control.stored_policy()[0] == widened(homelab_policy)
    assert run(capsys, "policy", "drift")[0] == 0


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("dialect", DIALECTS)
def test_cli_pull_and_formatting_only_drift(
    tmp_path: Path,
    control: Control,
    homelab_policy: str,
    dialect: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    inventory = str(repo.inventory.path)
    edited = _console(tmp_path, control, dialect, recommented(homelab_policy))
    code, out, err = run(capsys, "policy", "drift", "-i", inventory)
    assert code == 0
    assert out.splitlines()[2:] == [
        "diff remote -> local (semantic): differs only in formatting or comments"
    ]

    side = tmp_path / "remote.hujson"
    assert run(capsys, "policy", "pull", "-i", inventory, "-o", str(side)) == (
        0,
        "",
        f"wrote {side} (remote ETag {edited})\n",
    )
    assert side.read_text(encoding="utf-8") == recommented(homelab_policy)
    assert not repo.state().path.exists()
    code, _, err = run(capsys, "policy", "pull", "-i", inventory)
    assert (code, err.splitlines()[1]) == (
        0,
        "recorded the remote's ETag as the base for the next push",
    )
    assert repo.policy.read_text(encoding="utf-8") == recommented(homelab_policy)


@pytest.mark.usefixtures("env")
def test_cli_markdown_and_json(
    tmp_path: Path,
    control: Control,
    homelab_policy: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_checkout(tmp_path / "repo", control, "embedded", homelab_policy)
    inventory = str(repo.inventory.path)
    dry_run = ("policy", "push", "-i", inventory, "--dry-run", "--format")
    code, out, err = run(capsys, *dry_run, "markdown")
    assert (code, err) == (0, "dry run: would push\n")
    assert out.splitlines()[:4] == [
        "### tailcfg policy push: would push",
        "",
        f"Remote `tailscale {control.url} example.com`, policy `{repo.policy}`: ",
        "differs in access.",
    ]
    code, out, _ = run(capsys, *dry_run, "json")
    shown = json.loads(out)
    assert {k: v for k, v in shown.items() if k != "change"} == {
        "action": "apply",
        "dry_run": True,
        "local_etag": predict_etag(homelab_policy),
        "recorded_etag": None,
        "remote": f"tailscale {control.url} example.com",
        "remote_etag": control.stored_policy()[1],
        "server_refusal": None,
        "server_validated": True,
    }
    assert shown["change"]["summary"] == "differs in access"
    assert shown["change"]["diff"]["access_changed"] is True


def test_cli_without_credentials(
    tmp_path: Path,
    control: Control,
    homelab_policy: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TAILSCALE_API_KEY", "TAILSCALE_OAUTH_CLIENT_ID", "HEADSCALE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    repo: Checkout = make_checkout(tmp_path / "repo", control, "headscale", homelab_policy)
    assert run(capsys, "policy", "drift", "-i", str(repo.inventory.path)) == (
        1,
        "",
        "no Headscale credentials: set HEADSCALE_API_KEY\n",
    )

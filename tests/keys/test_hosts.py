"""hosts add: tailcfg.yaml and .sops.yaml edits, idempotence, validation, rollback."""

from __future__ import annotations

import pytest
from fakes.homelab import ODIN
from fakes.sshkeys import ssh_key

from tailcfg.age import ssh_pubkey_to_age
from tailcfg.errors import InventoryError
from tailcfg.hosts import add_host
from tailcfg.inventory import Host, Inventory
from tailcfg.sopsconfig import load_rules, rule_for

NAS = ssh_key(31, "root@nas")


def test_adds_then_is_idempotent(homelab: Inventory) -> None:
    before = homelab.path.read_text()
    result = add_host(homelab.path, "nas", ssh_host_key=NAS.public_line, tags=["tag:server"])
    recipient = ssh_pubkey_to_age(NAS.public_line)
    assert (result.recipient, result.inventory_changed, result.sops_config_changed) == (
        recipient,
        True,
        True,
    )
    assert result.inventory.hosts["nas"] == Host("nas", NAS.public_line, ("tag:server",))
    assert homelab.path.read_text() == before + (
        f"  nas:\n    ssh_host_key: {NAS.public_line}\n    tags: [tag:server]\n"
    )
    rule = rule_for(load_rules(homelab.sops_config), "secrets/nas/tailscale.yaml")
    assert rule is not None and rule.recipients == (ODIN, recipient)
    snapshot = (homelab.path.read_bytes(), homelab.sops_config.read_bytes())
    again = add_host(homelab.path, "nas", ssh_host_key=NAS.public_line, tags=["tag:server"])
    assert (again.inventory_changed, again.sops_config_changed) == (False, False)
    assert (homelab.path.read_bytes(), homelab.sops_config.read_bytes()) == snapshot


def test_key_file_inside_the_repo_is_stored_as_a_path(homelab: Inventory) -> None:
    pub = homelab.root_dir / "demo-keys" / "hosts" / "nas.pub"
    pub.write_text(NAS.public_line + "\n")
    result = add_host(homelab.path, "nas", ssh_host_key=str(pub))
    assert "    ssh_host_key: demo-keys/hosts/nas.pub\n" in homelab.path.read_text()
    assert result.inventory.hosts["nas"].ssh_host_key == NAS.public_line


def test_existing_host_gets_new_key_and_tags(homelab: Inventory) -> None:
    result = add_host(homelab.path, "dao", ssh_host_key=NAS.public_line, tags=["tag:ci"])
    assert result.inventory_changed and result.sops_config_changed
    dao = result.inventory.hosts["dao"]
    assert (dao.ssh_host_key, dao.tags, dao.ssh) == (NAS.public_line, ("tag:ci",), True)
    rule = rule_for(load_rules(homelab.sops_config), "secrets/dao/tailscale.yaml")
    assert rule is not None and rule.recipients == (ODIN, ssh_pubkey_to_age(NAS.public_line))


@pytest.mark.parametrize(
    ("name", "key", "tags", "message"),
    [
        (
            "Bad_Name",
            NAS.public_line,
            [],
            "host name 'Bad_Name': use lower-case letters, digits and '-'",
        ),
        ("nas", NAS.public_line, ["server"], "server: not a tag (tag:NAME)"),
        (
            "nas",
            "missing.pub",
            [],
            "missing.pub: cannot read SSH host key: No such file or directory",
        ),
    ],
)
def test_rejects(homelab: Inventory, name: str, key: str, tags: list[str], message: str) -> None:
    before = homelab.path.read_bytes()
    with pytest.raises(InventoryError) as info:
        add_host(homelab.path, name, ssh_host_key=key, tags=tags)
    assert str(info.value) == message
    assert homelab.path.read_bytes() == before


def test_invalid_result_is_rolled_back(homelab: Inventory) -> None:
    text = homelab.path.read_text().replace("    ssh: true\n", "    ssh: true\n    user: x\n", 1)
    homelab.path.write_text(text)
    with pytest.raises(InventoryError):
        add_host(homelab.path, "nas", ssh_host_key=NAS.public_line)
    assert homelab.path.read_text() == text

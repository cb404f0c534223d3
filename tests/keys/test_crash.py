"""Crash safety: SIGKILL at random moments of rotate / hosts add never leaves a torn file.

A zygote process imports tailcfg once, then forks a worker per run that loops over
``rotate_host(dao)`` and ``add_host(...)`` until the test kills it with SIGKILL at a random
moment. After every kill: ``tailcfg.yaml`` loads, ``.sops.yaml`` parses, and the sealed
file parses, decrypts, and holds a key the server minted and has not revoked.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.homelab import API_KEY, admin_key_file, admin_sops
from fakes.sshkeys import ssh_key
from fakes.tailscale_api import RunningServer
from ruamel.yaml import YAML

from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.sealed import read_key
from tailcfg.sopsconfig import load_rules

RUNS = 50

ZYGOTE = """
import os, sys
from pathlib import Path
from tailcfg.hosts import add_host
from tailcfg.inventory import load_inventory
from tailcfg.keys.backends import TailscaleV2
from tailcfg.keys.credentials import Credentials
from tailcfg.keys.rotate import rotate_host
from tailcfg.sops import Sops, find_sops

inv_path, url, admin, api_key, host_key = sys.argv[1:6]
creds = Credentials(tailscale_api_key=api_key)

inv = load_inventory(inv_path)
sops = Sops(find_sops(search_path=None), inv.root_dir, inv.sops_config,
            {"SOPS_AGE_KEY_FILE": admin})

def rotate():
    with TailscaleV2(url, tailnet="-", credentials=creds) as backend:
        rotate_host(inv, "dao", backend=backend, sops=sops)

def work():
    n = 0
    while True:
        rotate()
        add_host(Path(inv_path), f"w{os.getpid()}-{n}", ssh_host_key=host_key, tags=["tag:server"])
        n += 1

rotate()  # warm every cache before forking workers
print("ready", flush=True)

child = 0
for line in sys.stdin:
    if child:
        os.waitpid(child, 0)
    if line.strip() != "go":
        break
    child = os.fork()
    if child == 0:
        try:
            work()
        finally:
            os._exit(0)
    print(child, flush=True)
"""


def verify(inventory_path: Path, fake_api: RunningServer, checked: set[bytes]) -> str:
    inventory = load_inventory(inventory_path)
    load_rules(inventory.sops_config)
    path = inventory.secrets_file("dao")
    sealed = read_key(path)
    assert sealed is not None
    content = path.read_bytes()
    if content in checked:  # unchanged since the last run: decrypted already
        return sealed.key_id
    checked.add(content)
    opened = YAML(typ="safe").load(admin_sops(inventory).decrypt(path))
    record = fake_api.state.keys[sealed.key_id]
    assert opened["tailscale_authkey"] == record["key"]
    assert opened["tailscale_authkey_id"] == sealed.key_id
    assert not record["revoked"], "the sealed key was revoked"
    return sealed.key_id


@pytest.mark.slow
def test_sigkill_never_tears_files(homelab: Inventory, fake_api: RunningServer) -> None:
    rng = random.Random(20261121)
    zygote = subprocess.Popen(
        [
            sys.executable,
            "-c",
            ZYGOTE,
            str(homelab.path),
            fake_api.url,
            str(admin_key_file(homelab)),
            API_KEY,
            ssh_key(3).public_line,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    seen: set[str] = set()
    checked: set[bytes] = set()
    assert zygote.stdout.readline().strip() == "ready"
    try:
        for _run in range(RUNS):
            zygote.stdin.write("go\n")
            zygote.stdin.flush()
            worker = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.6))
            os.kill(worker, signal.SIGKILL)
            time.sleep(0.02)  # let the zygote reap it before the checks
            seen.add(verify(homelab.path, fake_api, checked))
    finally:
        zygote.stdin.write("quit\n")
        zygote.stdin.close()
        zygote.wait(timeout=30)
        zygote.stdout.close()
    assert zygote.returncode == 0
    print(f"distinct sealed keys over {RUNS} kills: {len(seen)}")
    assert len(seen) >= 3, "the workers hardly ever completed a rotation"
    hosts = load_inventory(homelab.path).hosts
    assert {"dao", "laptop"} <= set(hosts)

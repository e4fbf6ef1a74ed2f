"""The iTero simulator in its own process, with orders whose zips exist before the clock starts.

    python -m bench.simserver WORKDIR PORT ASSETS SIZE:COUNT [SIZE:COUNT ...]

ASSETS is a comma list of the assets to prepare (IDE, IMAGE_GALLERY); screen captures answer 204.
One zip per (size, asset) is generated and hard-linked under every order's name, so a thousand
orders cost the disk one file. WORKDIR/sim.json names the URL, a valid token pair and the orders.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

from simulators.itero.app import ASSET_SIZES, create_app
from simulators.itero.state import IteroSimState
from simulators.itero.zips import make_asset_zip


def prepare(state: IteroSimState, workdir: Path, assets: list[str],
            specs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    orders = []
    for size, count in specs:
        templates = {}
        for asset in assets:
            template = workdir / "templates" / f"{asset}-{size}.zip"
            make_asset_zip(template, asset, max(1, int(size * ASSET_SIZES[asset])), f"bench/{size}/{asset}")
            templates[asset] = template
        for _ in range(count):
            order = state.add_order(size=size)
            for asset, template in templates.items():
                target = state.asset_path(order, asset)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(template, target)
            orders.append({"rx_id": order.rx_id, "order_id": order.order_id, "size": size,
                           "ide_bytes": templates["IDE"].stat().st_size if "IDE" in templates else 0})
    return orders


def main(argv: list[str]) -> None:
    workdir, port, assets = Path(argv[0]), int(argv[1]), argv[2].split(",")
    specs = [(int(s), int(c)) for s, c in (spec.split(":") for spec in argv[3:])]
    state = IteroSimState(workdir=workdir / "sim", base_url=f"http://127.0.0.1:{port}")
    orders = prepare(state, workdir, assets, specs)
    state.access_ttl_s = 24 * 3600.0
    access, refresh = state.issue_tokens()
    url = f"http://127.0.0.1:{port}"
    (workdir / "sim.json").write_text(json.dumps({"url": url, "access_token": access,
                                                  "refresh_token": refresh, "orders": orders}))
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_config=None,
                            access_log=False, lifespan="on")
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])

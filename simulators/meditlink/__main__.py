"""Run the Medit Link simulator for a demo: `python -m simulators.meditlink --port 8081 --demo`."""

from __future__ import annotations

import argparse

import uvicorn

from simulators.meditlink import create_app
from simulators.meditlink.state import MeditSimState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--demo", action="store_true", help="start with one case ordered from the lab")
    args = parser.parse_args()
    state = MeditSimState()
    if args.demo:
        state.create_order(state.create_case().uuid)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()

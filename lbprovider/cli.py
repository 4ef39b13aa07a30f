"""The ``lbprovider`` command.

lbprovider run --config F [--kubeconfig K] [--check]   the controller
lbprovider sandbox up|down [--dir DIR]                  control plane + mock clouds
lbprovider mock-cloud NAME [--port P]                   one mock cloud in the foreground
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from lbprovider import __version__, health, logs
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, RegistryError, load
from lbprovider.config import ConfigError, build_providers, load_config

log = logging.getLogger("lbprovider")

EXIT_CONFIG = 2


def _stop_event() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _config_problems(error: ConfigError, path: str) -> int:
    print(f"{path}: invalid configuration:", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_run(args: argparse.Namespace) -> int:
    """Validate the configuration, then (unless --check) run the controller until SIGTERM."""
    logs.configure(log_format=args.log_format, level=args.log_level)
    try:
        config = load_config(args.config)
        providers = build_providers(config)
    except ConfigError as exc:
        return _config_problems(exc, args.config)
    if args.check:
        served = ", ".join(f"{entry.name} ({entry.provider})" for entry in config.classes)
        print(f"{args.config}: configuration OK; serving {served}")
        return 0

    # Imported here so `--check` and `--help` work without a cluster client.
    from lbprovider.controller.ownership import settings_fingerprint  # noqa: PLC0415
    from lbprovider.controller.service_controller import ServiceController  # noqa: PLC0415
    from lbprovider.kube.api import KubeApi, load_api_client  # noqa: PLC0415
    from lbprovider.kube.leader import LeaderElector, run_when_leader  # noqa: PLC0415

    try:
        api_client = load_api_client(args.kubeconfig)
    except Exception as exc:  # the loaders raise several unrelated types
        where = args.kubeconfig or "the in-cluster ServiceAccount"
        print(f"cannot load Kubernetes credentials from {where}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stop = _stop_event()
    controller = ServiceController.from_api(
        KubeApi(api_client),
        cluster_name=config.cluster_name,
        providers=providers,
        default_class=config.default_class,
        workers=config.workers,
        resync_seconds=config.resync_seconds,
        settings_fingerprints={
            entry.name: settings_fingerprint(entry.provider, entry.settings)
            for entry in config.classes
        },
    )
    leading = threading.Event()
    lost_lease = threading.Event()
    elector: LeaderElector | None = None

    def ready() -> bool:
        # A standby replica is healthy too: it is waiting for the lease, not broken.
        standby = config.leader_election.enabled and not leading.is_set()
        return standby or controller.has_synced()

    if config.health_address:
        server = health.serve(config.health_address, ready=ready)
        log.info("serving health and metrics", extra={"port": server.server_address[1]})
    if config.leader_election.enabled:

        def on_started_leading() -> None:
            leading.set()
            controller.start()

        def on_stopped_leading() -> None:
            lost_lease.set()
            stop.set()

        elector = run_when_leader(
            api_client,
            config.leader_election,
            on_started_leading=on_started_leading,
            on_stopped_leading=on_stopped_leading,
        )
    else:
        try:
            controller.start()
        except TimeoutError as exc:
            log.error("cannot reach the Kubernetes API", extra={"error": str(exc)})
            controller.stop(timeout=1)
            return 1
    stop.wait()
    lost = lost_lease.is_set()  # before our own stop makes the elector step down
    controller.stop()
    if elector is not None:
        elector.release()
    if lost:
        log.error("lost the leader lease; exiting so a fresh start rebuilds the cache")
        return 1
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Start or stop the sandbox."""
    from lbprovider.testing import sandbox  # noqa: PLC0415  # test support, loaded on demand

    directory = Path(args.dir)
    if args.action == "down":
        stopped = sandbox.down(directory)
        print("sandbox stopped" if stopped else f"no sandbox runs in {directory}")
        return 0
    try:
        state = sandbox.up(directory)
    except (RuntimeError, TimeoutError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    print(f"sandbox up: API server {state['server']}")
    print(f"  kubeconfig: {state['kubeconfig']}")
    print(f"  controller config: {state['config']}")
    for name, endpoint in sorted(state["mock_clouds"].items()):
        print(f"  mock {name}: {endpoint}")
    for name, reason in sorted(state["skipped"].items()):
        print(f"  mock {name}: not started ({reason})")
    return 0


def cmd_mock_cloud(args: argparse.Namespace) -> int:
    """Serve one mock cloud until SIGTERM/Ctrl-C."""
    try:
        start = load(args.name, MOCK_CLOUD_GROUP)
    except RegistryError as exc:
        print(f"mock-cloud: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stop = _stop_event()
    cloud = start(host="127.0.0.1", port=args.port, instances=args.instances)
    print(f"mock {args.name} serving on {cloud.endpoint}", flush=True)
    for instance in cloud.instances:
        print(f"  instance {instance.provider_id} ({instance.internal_ip})", flush=True)
    stop.wait()
    cloud.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="lbprovider", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"lbprovider {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the controller")
    run.add_argument("--config", required=True, help="path of lbprovider.yaml")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster ServiceAccount)")
    run.add_argument("--check", action="store_true", help="validate the configuration and exit")
    run.add_argument("--log-format", choices=["plain", "json"], default="plain")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(handler=cmd_run)

    box = commands.add_parser("sandbox", help="a local control plane with mock clouds")
    box.add_argument("action", choices=["up", "down"])
    box.add_argument("--dir", default=".sandbox", help="state directory (default .sandbox)")
    box.set_defaults(handler=cmd_sandbox)

    mock = commands.add_parser("mock-cloud", help="serve one mock cloud on 127.0.0.1")
    mock.add_argument("name", help="aws, alibaba or tencent")
    mock.add_argument("--port", type=int, default=0)
    mock.add_argument("--instances", type=int, default=2)
    mock.set_defaults(handler=cmd_mock_cloud)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lbprovider`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The ``lbprovider`` command.

lbprovider run --config F [--kubeconfig K] [--check]   the controller
lbprovider plan --config F [--kubeconfig K] [NS/NAME...] what the controller would change
lbprovider sweep --config F [--kubeconfig K] [--delete]  load balancers no Service holds
lbprovider sandbox up|down [--dir DIR]                  control plane + mock clouds
lbprovider mock-cloud NAME [--port P]                   one mock cloud in the foreground
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbprovider import __version__, health, logs
from lbprovider.cloud import Provider
from lbprovider.cloud.registry import MOCK_CLOUD_GROUP, RegistryError, load
from lbprovider.config import Config, ConfigError, build_providers, load_config

if TYPE_CHECKING:
    from collections.abc import Callable

    from lbprovider.controller.service_controller import ServiceController
    from lbprovider.controller.sweep import PeriodicSweep

log = logging.getLogger("lbprovider")

EXIT_CONFIG = 2
# plan and sweep keep 2 for "something to do", so every error there is 1.
EXIT_ERROR = 1
EXIT_PENDING = 2


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


def _report_check(path: str, config: Config) -> int:
    served = ", ".join(f"{entry.name} ({entry.provider})" for entry in config.classes)
    print(f"{path}: configuration OK; serving {served}")
    return 0


def _api_client(kubeconfig: str | None) -> Any:
    """A Kubernetes API client (None, after saying why on stderr, when there is none)."""
    from lbprovider.kube.api import load_api_client  # noqa: PLC0415  # kept off --help's path

    try:
        return load_api_client(kubeconfig)
    except Exception as exc:  # the loaders raise several unrelated types
        where = kubeconfig or "the in-cluster ServiceAccount"
        print(f"cannot load Kubernetes credentials from {where}: {exc}", file=sys.stderr)
        return None


def _service_controller(
    config: Config, providers: dict[str, Provider], api_client: Any
) -> ServiceController:
    """The ``ServiceController`` ``lbprovider run`` runs."""
    from lbprovider.controller.ownership import settings_fingerprint  # noqa: PLC0415
    from lbprovider.controller.service_controller import ServiceController  # noqa: PLC0415
    from lbprovider.kube.api import KubeApi  # noqa: PLC0415

    return ServiceController.from_api(
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
        state_namespace=config.leader_election.namespace,
        node_record_name=f"{config.leader_election.name}-node-sync",
    )


def _periodic_sweep(
    config: Config,
    providers: dict[str, Provider],
    api_client: Any,
    settled: Callable[[], bool],
) -> PeriodicSweep:
    """The leader's orphan sweep (a ``PeriodicSweep``; it does nothing with interval 0)."""
    from lbprovider.controller.sweep import PeriodicSweep, list_services  # noqa: PLC0415
    from lbprovider.kube.api import KubeApi  # noqa: PLC0415

    api = KubeApi(api_client)
    return PeriodicSweep(
        cluster_name=config.cluster_name,
        providers=providers,
        list_services=lambda: list_services(api),
        default_class=config.default_class,
        interval_seconds=config.sweep.interval_seconds,
        delete=config.sweep.delete,
        settled=settled,
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Validate the configuration, then (unless --check) run the controller until SIGTERM."""
    logs.configure(log_format=args.log_format, level=args.log_level)
    try:
        config = load_config(args.config)
        providers = build_providers(config)
    except ConfigError as exc:
        return _config_problems(exc, args.config)
    if args.check:
        return _report_check(args.config, config)

    # Imported here so `--check` and `--help` work without a cluster client.
    from lbprovider.controller import metrics as controller_metrics  # noqa: PLC0415
    from lbprovider.kube.leader import LeaderElector, run_when_leader  # noqa: PLC0415

    api_client = _api_client(args.kubeconfig)
    if api_client is None:
        return EXIT_CONFIG
    stop = _stop_event()
    controller = _service_controller(config, providers, api_client)
    sweeper = _periodic_sweep(config, providers, api_client, settled=controller.idle)
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
            sweeper.start()  # only the leader sweeps: one report, one deleter
            controller_metrics.LEADER.set(1)

        def on_stopped_leading() -> None:
            controller_metrics.LEADER.set(0)
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
            controller_metrics.LEADER.set(1)  # the only replica: it leads
        except TimeoutError as exc:
            log.error("cannot reach the Kubernetes API", extra={"error": str(exc)})
            controller.stop(timeout=1)
            return 1
        sweeper.start()
    stop.wait()
    lost = lost_lease.is_set()  # before our own stop makes the elector step down
    sweeper.stop()
    controller.stop()
    if elector is not None:
        elector.release()
    if lost:
        log.error("lost the leader lease; exiting so a fresh start rebuilds the cache")
        return 1
    return 0


def _default_kubeconfig() -> str | None:
    """kubectl's choice: the first existing file in $KUBECONFIG, else ~/.kube/config, else
    None (the in-cluster ServiceAccount)."""
    for candidate in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if candidate and Path(candidate).is_file():
            return candidate
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def _operator_setup(args: argparse.Namespace) -> tuple[Any, dict[str, Provider], Any] | int:
    """Configuration, providers and an API client for plan and sweep; an exit code on error."""
    logs.configure(log_format="plain", level="WARNING")  # stdout is the report
    try:
        config = load_config(args.config)
        providers = build_providers(config)
    except ConfigError as exc:
        _config_problems(exc, args.config)
        return EXIT_ERROR
    api_client = _api_client(args.kubeconfig or _default_kubeconfig())
    if api_client is None:
        return EXIT_ERROR
    return config, providers, api_client


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what the controller would change in the clouds; 0 nothing, 2 changes, 1 errors."""
    setup = _operator_setup(args)
    if isinstance(setup, int):
        return setup
    config, providers, api_client = setup
    from lbprovider.controller import plan  # noqa: PLC0415  # needs the cluster client
    from lbprovider.kube.api import KubeApi  # noqa: PLC0415

    bad = [key for key in args.services if key.count("/") != 1 or key.startswith("/")]
    if bad:
        print(f"plan: expected NAMESPACE/NAME, got {', '.join(bad)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        state = plan.ClusterState.read(KubeApi(api_client))
    except Exception as exc:  # API errors, connection errors: nothing to plan from
        print(f"plan: cannot list Services, Nodes and EndpointSlices: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        api_client.close()
    plans = plan.plan_services(
        state,
        cluster_name=config.cluster_name,
        providers=providers,
        default_class=config.default_class,
        keys=args.services,
    )
    print(plan.render(plans))
    return plan.exit_code(plans)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    """List (and with --delete, delete) orphaned load balancers; 0 none left, 2 left, 1 errors."""
    setup = _operator_setup(args)
    if isinstance(setup, int):
        return setup
    config, providers, api_client = setup
    from lbprovider.controller.sweep import list_services, sweep  # noqa: PLC0415
    from lbprovider.kube.api import KubeApi  # noqa: PLC0415

    api = KubeApi(api_client)
    try:
        result = sweep(
            cluster_name=config.cluster_name,
            providers=providers,
            list_services=lambda: list_services(api),
            default_class=config.default_class,
            delete=args.delete,
        )
    except Exception as exc:  # the Service list failed: no orphan can be told apart
        print(f"sweep: cannot list Services: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        api.close()
    if result.orphans:
        rows = [["CLASS", "LOAD BALANCER", "SERVICE", "UID", "STATE", "WHY"]]
        rows += [
            [
                orphan.load_balancer_class,
                orphan.lb_id,
                orphan.service_key,
                orphan.service_uid,
                "deleted" if orphan in result.deleted else "orphaned",
                orphan.detail,
            ]
            for orphan in result.orphans
        ]
        print(_table(rows))
    for error in result.errors:
        print(f"sweep: {error}", file=sys.stderr)
    left = len(result.remaining)
    print(
        f"Sweep: {len(result.orphans)} orphaned load balancer(s) in "
        f"{len(result.swept_classes)} class(es); {len(result.deleted)} deleted, {left} left."
    )
    if left and not args.delete:
        print("Run again with --delete to delete them.")
    if result.errors:
        return EXIT_ERROR
    return EXIT_PENDING if left else 0


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

    plan = commands.add_parser(
        "plan", help="print what the controller would change in the clouds (writes nothing)"
    )
    plan.add_argument("--config", required=True, help="path of lbprovider.yaml")
    plan.add_argument("--kubeconfig", help="kubeconfig file (default: as kubectl finds it)")
    plan.add_argument("services", nargs="*", metavar="NAMESPACE/NAME", help="only these")
    plan.set_defaults(handler=cmd_plan)

    orphans = commands.add_parser(
        "sweep", help="list load balancers tagged with this cluster that no Service holds"
    )
    orphans.add_argument("--config", required=True, help="path of lbprovider.yaml")
    orphans.add_argument("--kubeconfig", help="kubeconfig file (default: as kubectl finds it)")
    orphans.add_argument("--delete", action="store_true", help="delete the orphans found")
    orphans.set_defaults(handler=cmd_sweep)

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


def console() -> None:
    """The ``lbprovider`` console script (and ``python -m lbprovider.cli``): ``main``, then
    a prompt exit."""
    code = main()
    # Everything that matters is done by now (workers joined, Events written, the lease
    # released, reports printed): skip the interpreter's teardown, which spent 0.4 s of
    # every SIGTERM finalizing the informers' daemon threads and the kubernetes client
    # (measured; the stop itself takes milliseconds).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()

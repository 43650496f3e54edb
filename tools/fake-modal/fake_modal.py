#!/usr/bin/env python3
"""A fake Modal control plane for tests, driven by the real `modal` CLI.

It serves `modal.client.ModalClient` over plaintext HTTP/2 (h2c), which the CLI speaks when
`MODAL_SERVER_URL=http://127.0.0.1:PORT`. It is built on the stubs shipped inside the pinned
`modal` wheel (`modal_proto.api_grpc`, `modal_proto.api_pb2`) and on `grpclib`, which `modal`
already depends on: no `.proto`, no code generation, and the message layout can never drift
from the client under test. See README.md.

Usage:
    python fake_modal.py --port 0 [--port 0:silent] --token ak-x:as-y:workspace:user[:expires_unix[:name]] ...
        [--mode normal|hang|unauthenticated-all|close|silent] [--control-file PATH] [--record PATH]
        [--record-metadata PATH] [--min-client-version V] [--require-python-version]
        [--unimplemented METHOD]

Prints `fake-modal listening on http://127.0.0.1:PORT[,http://127.0.0.1:PORT2…]` (flushed) once
it accepts connections: with several `--port`s the line is a ready `MODAL_SERVER_URL` list.

Answers the credential RPCs (`modal token info/set`, `modal profile list`, libmodal's
`AuthTokenGet`) and everything `modal run` needs for an app with only a local entrypoint
(AppCreate, EnvironmentGetOrCreate, AppPublish, AppHeartbeat, AppGetLogs, AppClientDisconnect,
AppStop), e.g. `examples/modal/hello_local.py`.

To answer another RPC, write `@rpc("MethodName")` on an `async def handler(ctx, stream)`;
every method the wheel knows that has no handler answers UNIMPLEMENTED (and is recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Dict, Optional

import grpclib.const
import grpclib.server
from grpclib.exceptions import GRPCError
from google.protobuf import empty_pb2

from modal_proto import api_grpc, api_pb2

SERVICE = "modal.client.ModalClient"
MODES = ("normal", "hang", "unauthenticated-all", "close")
# What one listening address does: serve gRPC, refuse connections, or accept and stay silent.
PORT_MODES = ("normal", "close", "silent")
# Metadata values a recording must never hold.
SECRET_HEADERS = {"x-modal-token-secret", "x-modal-oauth-client-secret", "x-modal-refresh-token"}
# Methods the real servicer lets through without a token (the anonymous browser flow).
ANONYMOUS = {"TokenFlowCreate", "TokenFlowWait"}


@dataclass
class Token:
    token_id: str
    secret: str
    workspace: str
    user: str
    expires_at: Optional[int] = None
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> "Token":
        parts = text.split(":")
        # USER may be `service=NAME` for a service-user token.
        if len(parts) not in (4, 5, 6) or not all(parts[:4]):
            raise argparse.ArgumentTypeError(
                f"--token wants ID:SECRET:WORKSPACE:USER[:EXPIRES_UNIX[:NAME]], got {len(parts)} fields"
            )
        expires = int(parts[4]) if len(parts) >= 5 and parts[4] else None
        name = parts[5] if len(parts) == 6 else ""
        return cls(parts[0], parts[1], parts[2], parts[3], expires, name)


@dataclass
class State:
    """Everything a handler may look at. `mode` and `expired` can change at run time through
    the control file."""

    tokens: Dict[str, Token]
    mode: str = "normal"
    # What to do with a token whose expiry is in the past: "report" answers TokenInfoGet with
    # that expiry (the CLI prints `Expires at:`); "reject" answers UNAUTHENTICATED
    # "Token has expired." as a real server would for other RPCs.
    expired: str = "report"
    record_path: Optional[str] = None
    metadata_path: Optional[str] = None
    min_client_version: Optional[str] = None
    require_python_version: bool = False
    unimplemented: tuple = ()
    # (count, status name): the first `count` calls answer that status (transient faults).
    fail_first: Optional[tuple] = None
    control_path: Optional[str] = None
    control_mtime: float = -1.0
    on_close: Optional[Callable[[], None]] = None
    extra: dict = field(default_factory=dict)

    def record(self, method: str, metadata=None) -> None:
        if self.record_path:
            with open(self.record_path, "a", encoding="utf-8") as f:
                f.write(method + "\n")
                f.flush()
        if self.metadata_path and metadata is not None:
            # Secrets are recorded as present, never as values.
            seen = {
                key: ("<redacted>" if key in SECRET_HEADERS else value)
                for key, value in metadata.items()
                if isinstance(value, str)
            }
            with open(self.metadata_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"method": method, "metadata": seen}, sort_keys=True) + "\n")
                f.flush()

    def reload_control(self) -> None:
        """Re-read the control file (JSON: {"mode": ..., "expired": ...}) if it changed."""
        if not self.control_path:
            return
        try:
            mtime = os.stat(self.control_path).st_mtime
        except FileNotFoundError:
            return
        if mtime == self.control_mtime:
            return
        self.control_mtime = mtime
        try:
            with open(self.control_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            print(f"fake-modal: ignoring control file: {exc}", file=sys.stderr, flush=True)
            return
        mode = data.get("mode", self.mode)
        if mode in MODES:
            self.mode = mode
        self.expired = data.get("expired", self.expired)
        if self.mode == "close" and self.on_close:
            self.on_close()


@dataclass
class Context:
    """What a handler gets besides the stream: the server state and the caller's token."""

    state: State
    method: str
    token: Optional[Token]


Handler = Callable[[Context, "grpclib.server.Stream"], Awaitable[None]]
HANDLERS: Dict[str, Handler] = {}


def rpc(name: str) -> Callable[[Handler], Handler]:
    """Registers a handler for `/modal.client.ModalClient/<name>`."""

    def register(func: Handler) -> Handler:
        HANDLERS[name] = func
        return func

    return register


def unauthenticated(message: str) -> GRPCError:
    return GRPCError(grpclib.const.Status.UNAUTHENTICATED, message)


def authenticate(state: State, method: str, metadata) -> Optional[Token]:
    """Mirrors Modal's own test servicer (py/test/conftest.py): client headers required; a
    token id and secret required for every method but the anonymous flow."""
    required = ["x-modal-client-version", "x-modal-client-type"]
    # Modal's test servicer also requires the Python version; the libmodal Go/JS clients, which
    # the real server accepts, never send it, so here it is opt-in.
    if state.require_python_version:
        required.append("x-modal-python-version")
    for header in required:
        if header not in metadata:
            raise GRPCError(grpclib.const.Status.FAILED_PRECONDITION, f"Missing {header} header")
    if state.min_client_version and _version(metadata["x-modal-client-version"]) < _version(
        state.min_client_version
    ):
        # What the servicer answers a client below the current version.
        raise GRPCError(grpclib.const.Status.FAILED_PRECONDITION, "Old client (fake server)")
    if method in ANONYMOUS:
        return None
    path = f"/{SERVICE}/{method}"
    if state.mode == "unauthenticated-all":
        raise unauthenticated("failed authentication")
    token_id = metadata.get("x-modal-token-id")
    secret = metadata.get("x-modal-token-secret")
    if not token_id or not secret:
        raise unauthenticated(f"No credentials for method {path}")
    token = state.tokens.get(token_id)
    # Like the real servicer, the message names the token id: clients must scrub it.
    if token is None:
        raise unauthenticated(f"Invalid token_id={token_id} for method {path} (fake server)")
    if token.secret != secret:
        raise unauthenticated(f"Invalid token secret for method {path} (fake server)")
    if token.expires_at is not None and token.expires_at <= time.time() and state.expired == "reject":
        raise unauthenticated("Token has expired. (fake server)")
    return token


def _fail_first(text: Optional[str]) -> Optional[tuple]:
    if not text:
        return None
    count, _, status = text.partition(":")
    if status not in grpclib.const.Status.__members__:
        raise SystemExit(f"--fail-first {text}: unknown status {status!r}")
    return (int(count), status)


def _version(text: str) -> tuple:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _wrap(state: State, method: str) -> Callable[["grpclib.server.Stream"], Awaitable[None]]:
    async def handle(stream: "grpclib.server.Stream") -> None:
        state.reload_control()
        state.record(method, stream.metadata)
        if state.mode == "hang":
            # Accept the call and never answer; the CLI has no per-attempt deadline here.
            await asyncio.Event().wait()
        if state.fail_first and state.fail_first[0] > 0:
            count, status = state.fail_first
            state.fail_first = (count - 1, status)
            raise GRPCError(grpclib.const.Status[status], f"injected {status} (fake server)")
        token = authenticate(state, method, stream.metadata)
        handler = HANDLERS.get(method)
        if handler is None or method in state.unimplemented:
            raise GRPCError(grpclib.const.Status.UNIMPLEMENTED, f"{method} is not implemented by fake-modal")
        await handler(Context(state, method, token), stream)

    return handle


def make_servicer(state: State) -> api_grpc.ModalClientBase:
    """A `ModalClientBase` whose every abstract method is the recording/auth wrapper, so the
    wheel's own `__mapping__` (request/response types, cardinality) is used unchanged."""
    methods = {name: _make_method(state, name) for name in api_grpc.ModalClientBase.__abstractmethods__}
    cls = type("FakeModalServicer", (api_grpc.ModalClientBase,), methods)
    return cls()


def _make_method(state: State, name: str):
    inner = _wrap(state, name)

    async def method(self, stream):  # noqa: ARG001 - bound method signature
        await inner(stream)

    method.__name__ = name
    return method


# ---------------------------------------------------------------------------------------------
# Handlers: credentials (`modal token info/set`, `modal profile list`, libmodal).
# ---------------------------------------------------------------------------------------------


@rpc("ClientHello")
async def client_hello(ctx: Context, stream) -> None:
    await stream.recv_message()
    await stream.send_message(api_pb2.ClientHelloResponse())


@rpc("TokenInfoGet")
async def token_info_get(ctx: Context, stream) -> None:
    await stream.recv_message()
    token = ctx.token
    response = api_pb2.TokenInfoGetResponse(
        token_id=token.token_id,
        workspace_id=f"ac-{token.workspace}",
        workspace_name=token.workspace,
        token_name=token.name,
    )
    if token.user.startswith("service="):
        service = token.user[len("service="):]
        response.service_user_identity.CopyFrom(
            api_pb2.ServiceUserIdentity(
                service_user_id=f"su-{service}",
                service_user_name=service,
                created_by=api_pb2.UserIdentity(user_id="us-owner", username="owner"),
            )
        )
    else:
        response.user_identity.CopyFrom(api_pb2.UserIdentity(user_id=f"us-{token.user}", username=token.user))
    response.created_at.seconds = 1_700_000_000
    if token.expires_at is not None:
        response.expires_at.seconds = token.expires_at
    await stream.send_message(response)


@rpc("WorkspaceNameLookup")
async def workspace_name_lookup(ctx: Context, stream) -> None:
    await stream.recv_message()
    await stream.send_message(
        api_pb2.WorkspaceNameLookupResponse(workspace_name=ctx.token.workspace, username=ctx.token.user)
    )


@rpc("AuthTokenGet")
async def auth_token_get(ctx: Context, stream) -> None:
    """An unsigned (`alg: none`) JWT with `exp`, which is all the clients read."""
    import base64

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    await stream.recv_message()
    exp = int(time.time()) + 3600
    jwt = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'exp': exp, 'sub': ctx.token.user})}."
    await stream.send_message(api_pb2.AuthTokenGetResponse(token=jwt))


# ---------------------------------------------------------------------------------------------
# `modal run` of an app with only a local entrypoint (README.md, "`modal run` of a
# local-entrypoint app"; docs/protocol/modal.md). Apps live in
# `State.extra["apps"]`: app id -> FakeApp. An app is "done" once the client disconnects or
# stops it; that ends its `AppGetLogs` stream with `app_done`, so the CLI does not wait
# `logs_timeout` (10 s) for final logs.
# ---------------------------------------------------------------------------------------------

# How long one `AppGetLogs` call stays open without news, at most (the real server long-polls
# for about 55 s and the client asks again). Short here so a client that vanished without
# disconnecting never pins a handler for long.
LOGS_POLL_SECONDS = 5.0


@dataclass
class FakeApp:
    app_id: str
    description: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    disconnect_reason: Optional[int] = None


def _apps(state: State) -> Dict[str, FakeApp]:
    return state.extra.setdefault("apps", {})


def _app(ctx: Context, app_id: str) -> FakeApp:
    app = _apps(ctx.state).get(app_id)
    if app is None:
        raise GRPCError(grpclib.const.Status.NOT_FOUND, f"App {app_id} not found (fake server)")
    return app


@rpc("AppCreate")
async def app_create(ctx: Context, stream) -> None:
    request = await stream.recv_message()
    apps = _apps(ctx.state)
    app_id = f"ap-fake{len(apps) + 1:06d}"
    apps[app_id] = FakeApp(app_id, request.description)
    url = f"https://modal.invalid/apps/{ctx.token.workspace}/main/{app_id}"
    await stream.send_message(api_pb2.AppCreateResponse(app_id=app_id, app_page_url=url, app_logs_url=url))


@rpc("EnvironmentGetOrCreate")
async def environment_get_or_create(ctx: Context, stream) -> None:
    request = await stream.recv_message()
    name = request.deployment_name or "main"
    await stream.send_message(
        api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=f"en-fake-{name}",
            metadata=api_pb2.EnvironmentMetadata(name=name),
        )
    )


@rpc("AppHeartbeat")
async def app_heartbeat(ctx: Context, stream) -> None:
    request = await stream.recv_message()
    _app(ctx, request.app_id)
    await stream.send_message(empty_pb2.Empty())


@rpc("AppPublish")
async def app_publish(ctx: Context, stream) -> None:
    request = await stream.recv_message()
    _app(ctx, request.app_id)
    await stream.send_message(api_pb2.AppPublishResponse(deployed_at=time.time()))


@rpc("AppGetLogs")
async def app_get_logs(ctx: Context, stream) -> None:
    """Sends nothing until the app is done, then one `app_done` batch, and closes. If nothing
    happens for LOGS_POLL_SECONDS it closes without `app_done`; the client asks again."""
    request = await stream.recv_message()
    app = _app(ctx, request.app_id)
    try:
        await asyncio.wait_for(app.done.wait(), timeout=LOGS_POLL_SECONDS)
    except asyncio.TimeoutError:
        return
    await stream.send_message(api_pb2.TaskLogsBatch(app_done=True))


@rpc("AppClientDisconnect")
async def app_client_disconnect(ctx: Context, stream) -> None:
    request = await stream.recv_message()
    app = _app(ctx, request.app_id)
    app.disconnect_reason = request.reason
    app.done.set()
    await stream.send_message(empty_pb2.Empty())


@rpc("AppStop")
async def app_stop(ctx: Context, stream) -> None:
    request = await stream.recv_message()
    _app(ctx, request.app_id).done.set()
    await stream.send_message(empty_pb2.Empty())


# ---------------------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    state = State(
        tokens={t.token_id: t for t in args.token},
        mode=args.mode,
        expired=args.expired,
        record_path=args.record,
        metadata_path=args.record_metadata,
        min_client_version=args.min_client_version,
        require_python_version=args.require_python_version,
        unimplemented=tuple(args.unimplemented),
        fail_first=_fail_first(args.fail_first),
        control_path=args.control_file,
    )
    closed = asyncio.Event()
    servers = []
    silent_connections = []

    def close() -> None:
        if not closed.is_set():
            closed.set()
            for server in servers:
                server.close()  # stops listening: new connections are refused

    state.on_close = close
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, close)

    tls = None
    if args.tls_cert:
        import ssl

        # HTTP/2 over TLS with ALPN `h2`, as Modal's servers speak it.
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        tls.set_alpn_protocols(["h2"])
    urls = []
    for spec in args.port or ["0"]:
        port_text, _, port_mode = spec.partition(":")
        port_mode = port_mode or ("silent" if args.mode == "silent" else "normal")
        if port_mode not in PORT_MODES:
            raise SystemExit(f"--port {spec}: mode must be one of {', '.join(PORT_MODES)}")
        if port_mode == "silent":
            # Accepts TCP connections and never reads or writes a byte: no HTTP/2 at all.
            def silent(reader, writer) -> None:
                silent_connections.append(writer)

            server = await asyncio.start_server(silent, args.host, int(port_text))
            port = server.sockets[0].getsockname()[1]
            servers.append(server)
        else:
            server = grpclib.server.Server([make_servicer(state)])
            await server.start(args.host, int(port_text), ssl=tls)
            port = server._server.sockets[0].getsockname()[1]  # grpclib exposes no public accessor
            if port_mode == "close":
                server.close()  # the port is known, and refuses connections
            else:
                servers.append(server)
        urls.append(f"{'https' if tls and port_mode != 'silent' else 'http'}://{args.host}:{port}")
    print(f"fake-modal listening on {','.join(urls)}", flush=True)

    async def watch_control() -> None:
        while not closed.is_set():
            state.reload_control()
            await asyncio.sleep(0.1)

    if state.mode == "close":
        close()
    watcher = asyncio.create_task(watch_control())
    await closed.wait()
    watcher.cancel()
    if state.mode == "close":
        # The port is closed but the process stays, so a test can tell "refused" from "gone".
        await asyncio.Event().wait()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port",
        action="append",
        metavar="PORT[:MODE]",
        help="listen address (repeatable; 0 picks a free port); MODE normal, close (refuses "
        "connections) or silent (accepts TCP, never answers)",
    )
    parser.add_argument(
        "--token",
        type=Token.parse,
        action="append",
        default=[],
        metavar="ID:SECRET:WORKSPACE:USER[:EXPIRES_UNIX]",
        help="a token the server accepts (repeatable)",
    )
    parser.add_argument("--mode", choices=MODES + ("silent",), default="normal")
    parser.add_argument("--fail-first", metavar="N:STATUS", help="the first N calls answer STATUS (e.g. 2:UNAVAILABLE)")
    parser.add_argument("--tls-cert", help="serve TLS (ALPN h2) with this PEM certificate chain; URLs become https://")
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    parser.add_argument("--record-metadata", help="append every RPC's metadata as a JSON line (secrets redacted)")
    parser.add_argument("--min-client-version", help="answer FAILED_PRECONDITION 'Old client' below this x-modal-client-version")
    parser.add_argument(
        "--require-python-version",
        action="store_true",
        help="answer FAILED_PRECONDITION without x-modal-python-version, as Modal's test servicer does",
    )
    parser.add_argument("--unimplemented", action="append", default=[], metavar="METHOD", help="answer UNIMPLEMENTED for METHOD")
    parser.add_argument(
        "--expired",
        choices=("report", "reject"),
        default="report",
        help="past-expiry tokens: report the expiry in TokenInfoGet, or reject with UNAUTHENTICATED",
    )
    parser.add_argument("--control-file", help='JSON {"mode": ..., "expired": ...}, re-read on every RPC and every 100 ms')
    parser.add_argument("--record", help="append every RPC method name received, one per line")
    args = parser.parse_args(argv)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()

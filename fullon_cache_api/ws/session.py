"""One WebSocket's life: the handshake (the per-process bound, then authentication, refused
before ``accept``), then its requests, answered in order, and its streams, which run beside them
until the socket closes. Every frame goes out through the socket's bounded outbox, encoded once.

A request never closes the socket: a frame that is not JSON, not an object, too large, names an
unknown action or carries bad parameters is answered with an error frame, and so is a failure
(logged, with no detail sent). Streams are the socket's own: keyed by ``{connection_id}:
{request_id}`` on this socket alone, a repeated request id replaces its stream, and closing the
socket ends them all, leaving no task, poller or subscription behind.

Every byte belongs to a live client. A socket's outbox is bounded in frames (``ws_queue``: the
oldest stream message is dropped beyond it, counted) and in bytes (``ws_queue_bytes``): while
it is over either, the socket reads no further request and its streams wait, their updates
kept by the hub (the newest of each symbol once far behind). A frame the client does not take within
``client_send_timeout`` closes the socket (1008, ``client does not read``), and so does a
stream behind by more than ``stream_queue_bytes`` even so (1013, ``client too slow``); both are
counted in /metrics (``fullon_cache_api_clients_ended``). A client address holds at most
``ws_max_sockets_per_client`` sockets; a ``connection_id`` longer than ``MAX_ID`` characters
is refused at the handshake (1008), a ``request_id`` longer than that (a string's characters,
any other value's JSON text) is answered ``INVALID_PARAMS``. Client-chosen ids are logged
through ``logsafe.clean``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from ..actions import Action, Emit, Invalid, Missing, Stream
from ..auth import Auth, Resource
from ..context import Ctx
from ..envelopes import MALFORMED, MAX_ID, Request
from ..errors import ApiError, Forbidden, NotFound, TooManyStreams, Unauthorized, from_redis
from ..hub import HubClosed, Listener, SlowClient
from ..logsafe import clean
from ..metrics import CLIENTS_ENDED, WS_DROPPED, WS_SOCKETS, WS_STREAMS
from ..redis_clients import Backend
from ..responses import encode
from ..routing import Family, Socket

__all__ = ["AuthenticateWebSocket", "SocketApp", "SocketSlots"]

log = logging.getLogger("fullon.cache_api.ws")

AuthenticateWebSocket = Callable[[WebSocket], Awaitable[object]]
"""A host's handshake hook (master_api's ``authenticate_websocket``): it may set
``websocket.state.user``, close the socket (refused), or return False (refused)."""

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
INTERNAL_FRAME = ("INTERNAL_ERROR", "Internal server error")


class SocketSlots:
    """The process's open sockets, at most ``limit``, and per client address (taken and given
    back synchronously)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.clients: dict[str, int] = {}

    def take(self, client: str = "", per_client: int | None = None) -> bool:
        """A slot for a socket of ``client``; False when the process holds its most, or the
        address ``per_client`` (counted)."""
        if self.taken >= self.limit:
            return False
        held = self.clients.get(client, 0)
        if per_client is not None and held >= per_client:
            CLIENTS_ENDED.labels("ws", "client_limit").inc()
            return False
        self.clients[client] = held + 1
        self.taken += 1
        WS_SOCKETS.inc()
        return True

    def give(self, client: str = "") -> None:
        held = self.clients.get(client, 0) - 1
        if held > 0:
            self.clients[client] = held
        else:
            self.clients.pop(client, None)
        self.taken -= 1
        WS_SOCKETS.dec()


class SocketApp:
    """A socket route's ASGI app. ``socket`` is the declaration (its actions and envelope)."""

    def __init__(
        self,
        socket: Socket,
        backend: Backend,
        auth: Auth,
        slots: SocketSlots,
        authenticate: AuthenticateWebSocket | None,
    ) -> None:
        self.socket = socket
        self.backend = backend
        self.auth = auth
        self.slots = slots
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        connection_id = websocket.path_params.get("connection_id")
        if connection_id is not None and len(connection_id) > MAX_ID:
            CLIENTS_ENDED.labels("ws", "id_too_long").inc()
            await websocket.close(POLICY_VIOLATION, f"connection_id longer than {MAX_ID}")
            return
        client = scope.get("client")
        address = str(client[0]) if client else ""
        if not self.slots.take(address, self.backend.settings.ws_max_sockets_per_client):
            await websocket.close(TRY_AGAIN_LATER, "too many sockets")
            return
        give: Callable[[], None] | None = None
        try:
            if await self._admit(websocket):
                try:  # with tokens: the token's request rate, and one of its stream slots
                    if self.auth.limits:
                        self.auth.pace(websocket, self.socket.template)
                    give = self.auth.open_stream(websocket, self.socket.template)
                except ApiError as exc:  # logged and counted; refused before ``accept``
                    await websocket.close(TRY_AGAIN_LATER, exc.message)
                    return
                if websocket.application_state is WebSocketState.CONNECTING:
                    await websocket.accept()
                await Session(self, websocket).serve()
        finally:
            if give is not None:
                give()
            self.slots.give(address)

    async def _admit(self, websocket: WebSocket) -> bool:
        """The host's hook, then the tokens and ``require_user``; a refusal closes the socket
        with 1008 before ``accept`` (a server answers the handshake 403)."""
        admitted: object = True
        if self.authenticate is not None:
            try:
                admitted = await self.authenticate(websocket)
            except Exception:
                log.exception("the host's authenticate_websocket hook failed")
                admitted = False
        if websocket.application_state is WebSocketState.DISCONNECTED:
            return False  # the hook refused it
        try:
            self.auth.authenticate(websocket, self.socket.template, Family.OPEN)
        except Unauthorized:
            admitted = False
        if admitted is False:
            await websocket.close(POLICY_VIOLATION, "authentication required")
        return admitted is not False


class Outbox:
    """A socket's frames on their way out: ``full`` at ``size`` frames or ``max_bytes`` bytes.
    Beyond ``size`` frames the oldest stream message is dropped (counted); replies are kept:
    the socket reads no further request while the outbox is full, so they stay bounded. Once
    ``close``d, what waits goes out, then the socket closes."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self._frames: deque[tuple[bytes, bool]] = deque()
        self._size = size
        self._max_bytes = max_bytes
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.bytes = 0
        self.dropped = 0
        self.closing = False

    def full(self) -> bool:
        return self.bytes >= self._max_bytes or len(self._frames) >= self._size

    def _low(self) -> bool:
        """Down to half of both bounds: room again (not at each frame sent, so that a stream
        sends a batch, not a frame at a time, while its client reads slowly)."""
        return 2 * self.bytes <= self._max_bytes and 2 * len(self._frames) <= self._size

    def push(self, frame: bytes, droppable: bool) -> None:
        if len(self._frames) >= self._size:
            victim = next((i for i, (_, d) in enumerate(self._frames) if d), None)
            if victim is not None:
                self.bytes -= len(self._frames[victim][0])
                del self._frames[victim]
                self.dropped += 1
                WS_DROPPED.inc()
        self._frames.append((frame, droppable))
        self.bytes += len(frame)
        if self.full():
            self._room.clear()
        self._ready.set()

    async def room(self) -> None:
        """Wait while the outbox is full, until it is down to half (or closing)."""
        if self.full():
            self._room.clear()
        while not self._room.is_set() and not self.closing:
            await self._room.wait()

    def close(self) -> None:
        self.closing = True
        self._ready.set()
        self._room.set()

    def clear(self) -> None:
        """Forget every waiting frame (the socket is closing: nobody will take them)."""
        self._frames.clear()
        self.bytes = 0
        self.close()

    async def next(self) -> bytes | None:
        """The next frame; None once closing and nothing waits."""
        while not self._frames:
            if self.closing:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame = self._frames.popleft()[0]
        self.bytes -= len(frame)
        if self._low():
            self._room.set()
        return frame


class Session:
    def __init__(self, app: SocketApp, websocket: WebSocket) -> None:
        self.socket = app.socket
        self.auth = app.auth
        self.websocket = websocket
        self.settings = app.backend.settings
        self.ctx = Ctx(
            app.backend, websocket.app, websocket.scope.get("root_path", ""), lasting=True
        )
        # /ws has no connection id in its path: its stream keys take a new one
        self.connection_id: str = websocket.path_params.get("connection_id") or uuid.uuid4().hex
        self.envelope = app.socket.envelope
        self.outbox = Outbox(self.settings.ws_queue, self.settings.ws_queue_bytes)
        self.streams: dict[str, tuple[asyncio.Task[None], Listener[Any]]] = {}
        """Each running stream's task and the listener it was started with."""
        self.ending: tuple[int, str] | None = None
        """Why the server ends the socket, once it does (close code, reason)."""
        self.serving: asyncio.Task[Any] | None = None

    async def serve(self) -> None:
        self.serving = asyncio.current_task()
        writer = asyncio.create_task(self._write(), name="ws writer")
        forget = self.ctx.hub.on_close(self.outbox.close)  # the server stops: close the socket
        try:
            await self._read()
        except asyncio.CancelledError:
            task = self.serving
            # ``end`` cancels the read; any other cancellation (the server's) goes on
            if self.ending is None or task is None or task.cancelling() > 1:
                raise
            task.uncancel()
        finally:
            forget()
            writer.cancel()
            for key in list(self.streams):
                await self._end(key)
            await asyncio.gather(writer, return_exceptions=True)
            if self.ending is not None:
                self.outbox.clear()  # given back now, whatever the client does
                await self._close(*self.ending)

    def end(self, code: int, reason: str, why: str) -> None:
        """Close the socket for its client's sake (counted as ``why``), once: the read stops
        (cancelled), the streams end, the outbox is freed, the close frame is sent if the
        client takes it in time."""
        if self.ending is None:
            self.ending = (code, reason)
            CLIENTS_ENDED.labels("ws", why).inc()
            if self.serving is not None:
                self.serving.cancel()

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.websocket.close(code, reason)

    async def _read(self) -> None:
        """Requests in order, until the client goes, or stays silent with no stream for the
        idle timeout. While the outbox is full, no further request is read."""
        while self.ending is None:  # (a cancellation redis-py swallowed: the read ends here)
            await self.outbox.room()
            try:
                async with asyncio.timeout(None if self.streams else self.settings.ws_idle_timeout):
                    message = await self.websocket.receive()
            except TimeoutError:
                await self.websocket.close(1000, "idle timeout")
                return
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("text")
            await self._request(frame if frame is not None else message.get("bytes") or b"")

    async def _write(self) -> None:
        timeout = self.settings.client_send_timeout
        sent = 0
        with contextlib.suppress(Exception):  # the client went away: the reader sees it
            while (frame := await self.outbox.next()) is not None:
                sent += 1
                if sent % 64 == 0:  # a send that need not wait does not yield: let others run
                    await asyncio.sleep(0)
                try:
                    async with asyncio.timeout(timeout):
                        await self.websocket.send(
                            {"type": "websocket.send", "text": frame.decode()}
                        )
                except TimeoutError:
                    self.end(POLICY_VIOLATION, "client does not read", "not_reading")
                    return
            await self.websocket.close(GOING_AWAY, "server shutting down")

    def send(self, frame: msgspec.Struct, droppable: bool = False) -> None:
        self.outbox.push(encode(frame), droppable)

    async def _request(self, frame: str | bytes) -> None:
        envelope, now = self.envelope, self.ctx.now()
        if len(frame) > self.settings.ws_max_frame:
            text = f"Message too large (at most {self.settings.ws_max_frame} bytes)"
            return self.send(envelope.error(None, MALFORMED[0], text, now))
        try:
            data = msgspec.json.decode(frame)
        except (msgspec.DecodeError, RecursionError):
            data = None
        if not isinstance(data, dict):  # not JSON, or not an object
            return self.send(envelope.error(None, *MALFORMED, now))
        request = envelope.parse(data, self.socket.by_name, now)
        if not isinstance(request, Request):
            return self.send(request)
        if _too_long(request.request_id):
            text = f"request_id longer than {MAX_ID} characters"
            return self.send(envelope.error(None, "INVALID_PARAMS", text, now))
        action = self.socket.by_name.get(request.name) if isinstance(request.name, str) else None
        if action is None:
            return self.send(envelope.not_implemented(request, now))
        reply = await self._answer(action, request)
        if reply is not None:  # a stream sent its confirmation itself
            self.send(reply)

    async def _answer(self, action: Action, request: Request) -> msgspec.Struct | None:
        """The reply to one request, or None once a stream is confirmed."""
        envelope, request_id = self.envelope, request.request_id
        args: dict[str, Any] = {}
        failure = ("INTERNAL_ERROR" if action.update else "CACHE_ERROR", action.failure)
        try:
            # the token's scopes (the action's family in the route table), before its params
            self.auth.scoped(
                self.websocket, self._route(action), self.socket.family_of(action.name)
            )
            args = action.arguments(request.params)
            await self._authorize(action, args)
            heavy = self.ctx.heavy if action.heavy else contextlib.nullcontext()
            # the REST routes' deadline (request_timeout), and their limit of heavy reads
            async with asyncio.timeout(self.settings.request_timeout), heavy:
                answer = await action.handler(self.ctx, **args)
                if isinstance(answer, Stream):
                    await self._start(action, request, answer)
                    return None
            return envelope.success(request, answer, self.ctx.now())
        except Missing:
            error = ("INVALID_PARAMS", action.missing)
        except Invalid as exc:
            error = ("INVALID_PARAMS", str(exc))
        except Forbidden as exc:
            error = ("FORBIDDEN", exc.message)
        except TooManyStreams as exc:
            error = ("TOO_MANY_STREAMS", exc.message)
        except HubClosed:  # the server is shutting down
            error = failure
        except NotFound:
            if action.not_found is None:
                error = failure
            else:
                code, text = action.not_found
                return envelope.not_found(request, code, text.format(**args), self.ctx.now())
        except (RedisError, TimeoutError) as exc:
            from_redis(exc)  # logged and counted by cause
            error = failure
        except ApiError as exc:  # a corrupt stored value
            log.warning("%s: %s", action.name, clean(exc.message))
            error = failure
        except Exception:
            log.exception("%s failed on %s", action.name, self.socket.path)
            error = INTERNAL_FRAME
        code, text = error
        return envelope.error(request_id, code, text or INTERNAL_FRAME[1], self.ctx.now())

    def _route(self, action: Action) -> str:
        return f"{self.socket.template}#{action.name}"

    async def _authorize(self, action: Action, args: dict[str, Any]) -> None:
        """The token's allow-lists and the host's ``authorize`` hook, on the ids the action
        reads by (its scoped params)."""
        if self.auth.authorize is None and self.auth.tokens is None:
            return
        ids = {p.name: str(args[p.name]) for p in action.params if args[p.name] is not None}
        resource = Resource.of(self._route(action), action.params, ids)
        await self.auth.check(self.websocket, resource, self.socket.family_of(action.name))

    async def _start(self, action: Action, request: Request, stream: Stream) -> None:
        """Replace the stream of the same key, subscribe, confirm, then follow it."""
        key = f"{self.connection_id}:{request.request_id}"
        if key in self.streams:
            await self._end(key)
        if len(self.streams) >= self.settings.ws_max_streams:
            raise TooManyStreams(f"at most {self.settings.ws_max_streams} streams per socket")
        stream.gate = self.outbox.room  # its updates conflate while the outbox is full
        listener = await stream.listen(self.ctx.hub)
        self.send(self.envelope.confirmation(request, stream.message, key, self.ctx.now()))
        update = action.update or ""
        request_id = request.request_id

        def emit(results: Sequence[msgspec.Struct]) -> None:
            now = self.ctx.now()
            for result in results:
                self.send(self.envelope.update(request_id, update, result, now), droppable=True)

        task = asyncio.create_task(self._follow(stream, listener, key, emit), name=key)
        self.streams[key] = (task, listener)
        WS_STREAMS.inc()

    async def _follow(self, stream: Stream, listener: Listener[Any], key: str, emit: Emit) -> None:
        try:
            await stream.run(self.ctx.hub, listener, key, emit)
        except SlowClient:  # behind by more than its bound, even conflated
            self.end(TRY_AGAIN_LATER, "client too slow", "slow_client")
        except Exception:  # this stream ends; the socket and its other streams go on
            log.exception("stream %s failed", clean(key))

    async def _end(self, key: str) -> None:
        """Cancel a stream and give back its subscription (also when its task never ran)."""
        task, listener = self.streams.pop(key)
        while not task.done():  # again when redis-py swallowed it (it returns its reply then)
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        listener.close()
        WS_STREAMS.dec()


def _too_long(request_id: object) -> bool:
    """A request id over ``MAX_ID`` characters: a string's own, any other value's JSON text."""
    if isinstance(request_id, str):
        return len(request_id) > MAX_ID
    return len(encode(request_id)) > MAX_ID

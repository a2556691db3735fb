"""One WebSocket's life: the handshake (the per-process bound, then authentication, refused
before ``accept``), then its requests, answered in order, and its streams, which run beside them
until the socket closes. Every frame goes out through the socket's bounded outbox, encoded once.

A request never closes the socket: a frame that is not JSON, not an object, too large, names an
unknown action or carries bad parameters is answered with an error frame, and so is a failure
(logged, with no detail sent). Streams are the socket's own: keyed by ``{connection_id}:
{request_id}`` on this socket alone, a repeated request id replaces its stream, and closing the
socket ends them all, leaving no task, poller or subscription behind.
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

from ..auth import Auth, Resource
from ..errors import ApiError, Forbidden, NotFound, TooManyStreams, Unauthorized, from_redis
from ..hub import HubClosed, Listener
from ..metrics import WS_DROPPED, WS_SOCKETS, WS_STREAMS
from ..redis_clients import Backend
from ..responses import encode
from ..routing import Ctx, Socket
from .actions import Action, Emit, Invalid, Missing, Stream
from .envelopes import MALFORMED, Request

__all__ = ["AuthenticateWebSocket", "SocketApp", "SocketSlots"]

log = logging.getLogger("fullon.cache_api.ws")

AuthenticateWebSocket = Callable[[WebSocket], Awaitable[object]]
"""A host's handshake hook (master_api's ``authenticate_websocket``): it may set
``websocket.state.user``, close the socket (refused), or return False (refused)."""

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
INTERNAL = ("INTERNAL_ERROR", "Internal server error")


class SocketSlots:
    """The process's open sockets, at most ``limit`` (taken and given back synchronously)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        WS_SOCKETS.inc()
        return True

    def give(self) -> None:
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
        if not self.slots.take():
            await websocket.close(TRY_AGAIN_LATER, "too many sockets")
            return
        try:
            if await self._admit(websocket):
                if websocket.application_state is WebSocketState.CONNECTING:
                    await websocket.accept()
                await Session(self, websocket).serve()
        finally:
            self.slots.give()

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
            self.auth.authenticate(websocket)
        except Unauthorized:
            admitted = False
        if admitted is False:
            await websocket.close(POLICY_VIOLATION, "authentication required")
        return admitted is not False


class Outbox:
    """A socket's frames on their way out, at most ``size``. When full, the oldest stream
    message is dropped (counted); a reply only when nothing but replies is waiting. Once
    ``close``d, what waits goes out, then the socket closes."""

    def __init__(self, size: int) -> None:
        self._frames: deque[tuple[bytes, bool]] = deque()
        self._size = size
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closing = False

    def push(self, frame: bytes, droppable: bool) -> None:
        if len(self._frames) >= self._size:
            victim = next((i for i, (_, d) in enumerate(self._frames) if d), 0)
            del self._frames[victim]
            self.dropped += 1
            WS_DROPPED.inc()
        self._frames.append((frame, droppable))
        self._ready.set()

    def close(self) -> None:
        self.closing = True
        self._ready.set()

    async def next(self) -> bytes | None:
        """The next frame; None once closing and nothing waits."""
        while not self._frames:
            if self.closing:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()[0]


class Session:
    def __init__(self, app: SocketApp, websocket: WebSocket) -> None:
        self.socket = app.socket
        self.auth = app.auth
        self.websocket = websocket
        self.settings = app.backend.settings
        self.ctx = Ctx(app.backend, websocket.app, websocket.scope.get("root_path", ""))
        # /ws has no connection id in its path: its stream keys take a new one
        self.connection_id: str = websocket.path_params.get("connection_id") or uuid.uuid4().hex
        self.envelope = app.socket.envelope
        self.outbox = Outbox(self.settings.ws_queue)
        self.streams: dict[str, tuple[asyncio.Task[None], Listener[Any]]] = {}
        """Each running stream's task and the listener it was started with."""

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write(), name="ws writer")
        forget = self.ctx.hub.on_close(self.outbox.close)  # the server stops: close the socket
        try:
            await self._read()
        finally:
            forget()
            writer.cancel()
            for key in list(self.streams):
                await self._end(key)
            await asyncio.gather(writer, return_exceptions=True)

    async def _read(self) -> None:
        """Requests in order, until the client goes, or stays silent with no stream for the
        idle timeout."""
        while True:
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
        with contextlib.suppress(Exception):  # the client went away: the reader sees it
            while (frame := await self.outbox.next()) is not None:
                await self.websocket.send({"type": "websocket.send", "text": frame.decode()})
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
            log.warning("%s: %s", action.name, exc.message)
            error = failure
        except Exception:
            log.exception("%s failed on %s", action.name, self.socket.path)
            error = INTERNAL
        code, text = error
        return envelope.error(request_id, code, text or INTERNAL[1], self.ctx.now())

    async def _authorize(self, action: Action, args: dict[str, Any]) -> None:
        """The host's ``authorize`` hook, on the ids the action reads by (its scoped params)."""
        if self.auth.authorize is None:
            return
        ids = {p.name: str(args[p.name]) for p in action.params if args[p.name] is not None}
        resource = Resource.of(f"{self.socket.template}#{action.name}", action.params, ids)
        await self.auth.check(self.websocket, resource)

    async def _start(self, action: Action, request: Request, stream: Stream) -> None:
        """Replace the stream of the same key, subscribe, confirm, then follow it."""
        key = f"{self.connection_id}:{request.request_id}"
        if key in self.streams:
            await self._end(key)
        if len(self.streams) >= self.settings.ws_max_streams:
            raise TooManyStreams(f"at most {self.settings.ws_max_streams} streams per socket")
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
        except Exception:  # this stream ends; the socket and its other streams go on
            log.exception("stream %s failed", key)

    async def _end(self, key: str) -> None:
        """Cancel a stream and give back its subscription (also when its task never ran)."""
        task, listener = self.streams.pop(key)
        while not task.done():  # again when redis-py swallowed it (it returns its reply then)
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        listener.close()
        WS_STREAMS.dec()

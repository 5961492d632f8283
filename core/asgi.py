"""Django's ASGI handler, with each HTTP request's Django part run in ONE hop to a worker thread.

Django's own handler, with our sync-only middleware, hops between the event loop and threads six to
eight times per request (request_started, the sync middleware, back to the loop for the async-capable
ones, each of their hooks, the view, response.close), and starts a new thread for every request. Every
hop is a thread handoff under the GIL; together they cost more CPU than a simple view. Here the
request_started signal, the middleware chain, the view and (for non-streaming responses) the close run
in one call, on a pool of reused threads; the loop only reads the body and writes the response."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse
from django.urls import set_script_prefix


class OneHopASGIHandler(ASGIHandler):
    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._threads = ThreadPoolExecutor(
            max_workers=settings.HTTP_WORKER_THREADS, thread_name_prefix="http"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        respond = sync_to_async(self._respond, thread_sensitive=False, executor=self._threads)
        process = asyncio.ensure_future(respond(scope, body_file))
        disconnect = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait([process, disconnect], return_when=asyncio.FIRST_COMPLETED)
            is_aborted = disconnect.done()
            if is_aborted:
                with contextlib.suppress(RequestAborted):
                    disconnect.result()
            else:
                disconnect.cancel()
            # A thread cannot be stopped: after a disconnect the view still finishes and its response is
            # closed, only not sent.
            response = await process
        finally:
            body_file.close()
        try:
            if not is_aborted:
                await self.send_response(response, send)
        except asyncio.CancelledError:
            pass  # the client went away while the response was being sent
        finally:
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=False, executor=self._threads)()

    def _respond(self, scope, body_file):
        """The whole Django part of a request, in one worker thread; closes a non-streaming response."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: the database connection goes back to the pool now
        return response

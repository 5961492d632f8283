"""The channel layer's Redis reads must outlast its own blocking pop, or idle WebSockets crash."""

import asyncio

from channels.layers import get_channel_layer
from channels_redis.utils import create_pool


def test_socket_timeout_outlasts_the_blocking_pop():
    layer = get_channel_layer()
    pool = create_pool(dict(layer.hosts[0]))
    timeout = pool.connection_class(**pool.connection_kwargs).socket_timeout
    assert timeout is None or timeout > layer.brpop_timeout + 1, (
        f"socket_timeout {timeout} s would cut BZPOPMIN ({layer.brpop_timeout} s) on an idle socket"
    )


def test_an_idle_receive_survives_one_blocking_pop():
    """A receive that waits through a whole BZPOPMIN round (5 s) with nothing to read is not an error."""
    layer = get_channel_layer()

    async def idle():
        channel = await layer.new_channel()
        try:
            await asyncio.wait_for(layer.receive(channel), timeout=layer.brpop_timeout + 1.5)
        except TimeoutError:
            return "idle"

    assert asyncio.run(idle()) == "idle"

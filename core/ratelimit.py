"""A token bucket kept in Redis, so every process (web, workers, campaign dispatchers) shares it.

The bucket refills continuously at `rate_per_s` up to `capacity`. The whole check-and-take runs as
one Lua script, atomic in Redis, with Redis' own clock so that process clocks do not matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from redis.commands.core import Script

from core.redis import get_redis

# `take(key, capacity, rate, cost)` -> {allowed (0/1), tokens left (text)}; other scripts that take a token
# as part of a larger check (api.services' key admission) start with it too.
TOKEN_BUCKET_TAKE_LUA = """
local function take(key, capacity, rate, cost)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil then
    tokens = capacity
    ts = now
  end
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  local allowed = 0
  if tokens >= cost then
    tokens = tokens - cost
    allowed = 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((capacity / rate) * 1000) + 1000)
  return {allowed, tostring(tokens)}
end
"""

_TOKEN_BUCKET_LUA = (
    TOKEN_BUCKET_TAKE_LUA + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))\n"
)


@lru_cache(maxsize=4)
def _token_bucket_script(client) -> Script:
    return client.register_script(_TOKEN_BUCKET_LUA)


@dataclass(frozen=True)
class RateDecision:
    is_allowed: bool
    remaining: int
    limit: int
    retry_after_s: float
    reset_after_s: float


class TokenBucket:
    """`capacity` tokens, refilled at `rate_per_s`. Keys are namespaced by the caller (schema, key id)."""

    def __init__(self, key: str, *, capacity: float, rate_per_s: float):
        if capacity <= 0 or rate_per_s <= 0:
            raise ValueError("capacity and rate_per_s must be positive")
        self.key = f"ratelimit:{key}"
        self.capacity = capacity
        self.rate_per_s = rate_per_s

    def take(self, cost: float = 1, *, also: Callable | None = None) -> RateDecision:
        """Take `cost` tokens; `also(pipeline)` adds the caller's own commands to the same round trip."""
        client = get_redis()
        args = [self.capacity, self.rate_per_s, cost]
        if also is None:
            allowed, tokens_text = _token_bucket_script(client)(keys=[self.key], args=args)
        else:
            with client.pipeline(transaction=False) as pipe:
                # EVAL rather than the registered script: in a pipeline redis-py first asks Redis whether
                # the script is loaded (SCRIPT EXISTS), a second round trip on every call.
                pipe.eval(_TOKEN_BUCKET_LUA, 1, self.key, *args)
                also(pipe)
                allowed, tokens_text = pipe.execute()[0]
        return self.decision(allowed, tokens_text, cost)

    def decision(self, allowed, tokens_text, cost: float = 1) -> RateDecision:
        """The decision a `take` in Lua answered (allowed, tokens left)."""
        tokens = float(tokens_text)
        missing = max(0.0, cost - tokens)
        return RateDecision(
            is_allowed=bool(int(allowed)),
            remaining=int(math.floor(tokens)),
            limit=int(self.capacity),
            retry_after_s=0.0 if int(allowed) else missing / self.rate_per_s,
            reset_after_s=(self.capacity - tokens) / self.rate_per_s,
        )

    @classmethod
    def per_minute(cls, key: str, requests_per_minute: int) -> TokenBucket:
        return cls(key, capacity=requests_per_minute, rate_per_s=requests_per_minute / 60)

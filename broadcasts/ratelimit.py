"""The one global send rate, shared by every worker through Redis (or in-process without it)."""

import functools

import redis
from django.conf import settings

from gateway.ratelimit import LocalRateLimiter, RateLimiter


class NoRateLimit:
    """WHATSAPP_RATE_PER_SECOND=0: no limit at all (benchmarks of the product's own speed)."""

    def acquire(self, n: int = 1) -> None:
        return None

    def slow_down(self, seconds: float) -> None:
        return None


def rate_limiter() -> RateLimiter | LocalRateLimiter | NoRateLimit:
    """The limiter for the configured sending number and rate."""
    phone_number_id = settings.WHATSAPP_GATEWAY["OPTIONS"].get("phone_number_id", "default")
    return _limiter(settings.REDIS_URL, phone_number_id, settings.WHATSAPP_RATE_PER_SECOND)


@functools.lru_cache(maxsize=8)
def _limiter(redis_url: str, phone_number_id: str, rate: float):
    if rate <= 0:
        return NoRateLimit()
    if not redis_url:
        return LocalRateLimiter(rate)
    client = redis.Redis.from_url(redis_url)
    return RateLimiter(client, f"infocomune:rate:{phone_number_id}", rate)

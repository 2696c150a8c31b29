"""Plug in a real language model: a small client for an OpenAI-compatible chat-completions API.

Off by default. It is configured only by environment variables, and nothing is sent anywhere
unless ``COURSE_LLM_BASE_URL`` and ``COURSE_LLM_MODEL`` are set:

    COURSE_LLM_BASE_URL   e.g. http://localhost:8000/v1 (a local server) or a provider's /v1 URL
    COURSE_LLM_MODEL      the model name the server expects
    COURSE_LLM_API_KEY    optional; sent as "Authorization: Bearer <key>"

The model is prompted in the PAL style (Gao et al. 2022): a few worked examples whose solutions
are Python functions ``solution()``, then the new question. The returned program is run by the
same sandbox as the lesson's own models (:mod:`utils.reasoning.sandbox`), in one of its worker
processes, because a real model's output is untrusted code. A reply is read at most
``MAX_RESPONSE_BYTES`` long, and only its first fenced code block (or the whole reply) is run.

Only the standard library is used (``urllib``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from utils.reasoning import sandbox

__all__ = ["LLMConfig", "LLMError", "LLMSolution", "pal_messages", "extract_code", "chat", "solve",
           "ENV_BASE_URL", "ENV_MODEL", "ENV_API_KEY", "PAL_EXAMPLES"]

ENV_BASE_URL = "COURSE_LLM_BASE_URL"
ENV_MODEL = "COURSE_LLM_MODEL"
ENV_API_KEY = "COURSE_LLM_API_KEY"
MAX_RESPONSE_BYTES = 2 * 2**20


class LLMError(RuntimeError):
    """The endpoint could not be reached, refused the request, or answered something unreadable."""


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 512

    def __post_init__(self):
        if not isinstance(self.base_url, str) or not re.match(r"^https?://[^\s/]+", self.base_url):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> LLMConfig | None:
        """The configuration from the environment, or None when no endpoint is configured (the default)."""
        env = os.environ if environ is None else environ
        base, model = env.get(ENV_BASE_URL, "").strip(), env.get(ENV_MODEL, "").strip()
        if not base or not model:
            return None
        return cls(base_url=base, model=model, api_key=env.get(ENV_API_KEY, ""), **overrides)

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


PAL_SYSTEM = ("You solve grade-school math word problems by writing a Python function `solution()` that "
              "returns the final answer as a number. Use plain Python arithmetic: no imports, no input(), "
              "no printing. Answer with the code only, in one ```python block.")

PAL_EXAMPLES: tuple[tuple[str, str], ...] = (   # written for this course, in the style of PAL's prompts
    ("Ana has 40 stamps. She buys 3 packs of 12 stamps and gives 15 stamps to her brother. "
     "How many stamps does she have now?",
     "def solution():\n    stamps_start = 40\n    packs = 3\n    stamps_per_pack = 12\n    given_away = 15\n"
     "    stamps_bought = packs * stamps_per_pack\n    stamps_now = stamps_start + stamps_bought - given_away\n"
     "    return stamps_now"),
    ("A baker makes 96 rolls and puts them into bags of 8. He sells each bag for 5 dollars. "
     "How many dollars does he get for all the bags?",
     "def solution():\n    rolls = 96\n    rolls_per_bag = 8\n    price_per_bag = 5\n"
     "    bags = rolls / rolls_per_bag\n    money = bags * price_per_bag\n    return money"),
    ("A tank holds 250 litres. It loses 4 litres every hour for a day and a half. How many litres are left?",
     "def solution():\n    litres_start = 250\n    loss_per_hour = 4\n    hours = 24 + 12\n"
     "    litres_left = litres_start - loss_per_hour * hours\n    return litres_left"),
)


def pal_messages(question: str, examples: Sequence[tuple[str, str]] = PAL_EXAMPLES) -> list[dict]:
    """Chat messages for a PAL-style prompt: a system instruction, worked examples, the question."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string")
    msgs = [{"role": "system", "content": PAL_SYSTEM}]
    for q, code in examples:
        msgs.append({"role": "user", "content": q})
        msgs.append({"role": "assistant", "content": f"```python\n{code}\n```"})
    msgs.append({"role": "user", "content": question.strip()})
    return msgs


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S | re.I)


def extract_code(text: str) -> str:
    """The program in a model's reply: the first fenced code block, else the whole reply."""
    if not isinstance(text, str):
        raise TypeError(f"expected the reply as a string, got {type(text).__name__}")
    m = _FENCE.search(text)
    return (m.group(1) if m else text).strip("\n")


def chat(config: LLMConfig, messages: list[dict], n: int = 1) -> list[str]:
    """POST a chat-completions request; return the ``n`` reply texts. Raises :class:`LLMError`."""
    if not isinstance(config, LLMConfig):
        raise TypeError("config must be an LLMConfig (see LLMConfig.from_env)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    body = {"model": config.model, "messages": messages, "temperature": config.temperature,
            "max_tokens": config.max_tokens, "n": n}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    req = urllib.request.Request(config.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=config.timeout) as resp:
            raw = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as e:
        detail = e.read(500).decode("utf-8", "replace") if e.fp is not None else ""
        raise LLMError(f"{config.endpoint} answered HTTP {e.code}: {detail.strip()[:300]}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise LLMError(f"could not reach {config.endpoint}: {reason}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise LLMError(f"the reply is larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
        texts = [c["message"]["content"] for c in data["choices"]]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise LLMError(f"unexpected reply from {config.endpoint} ({type(e).__name__}): "
                       f"{raw[:200].decode('utf-8', 'replace')}") from None
    if not texts or not all(isinstance(t, str) for t in texts):
        raise LLMError("the reply has no text choices")
    return texts


@dataclass
class LLMSolution:
    question: str
    reply: str
    program: str
    outcome: sandbox.Outcome
    answer: int | float | None   # normalised; None when the sandbox refused the program


def solve(question: str, config: LLMConfig | None = None, n: int = 1, isolate: bool | str = True,
          limits: sandbox.Limits | None = None) -> list[LLMSolution]:
    """Ask the model for ``n`` PAL programs for ``question`` and run each in the sandbox.

    ``config`` defaults to :meth:`LLMConfig.from_env`; with no endpoint configured this raises
    :class:`LLMError` and sends nothing. ``isolate`` is passed to :func:`sandbox.safe_run`: keep the
    default (a worker process); ``isolate=False`` would run a model's program in this process."""
    config = config if config is not None else LLMConfig.from_env()
    if config is None:
        raise LLMError(f"no model configured: set {ENV_BASE_URL} and {ENV_MODEL} (and {ENV_API_KEY} if the "
                       f"server needs one)")
    out = []
    for reply in chat(config, pal_messages(question), n=n):
        program = extract_code(reply)
        outcome = sandbox.safe_run(program, limits=limits, isolate=isolate)
        answer = sandbox.normalise_answer(outcome.value) if outcome.ok else None
        out.append(LLMSolution(question, reply, program, outcome, answer))
    return out

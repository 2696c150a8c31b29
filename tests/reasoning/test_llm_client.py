"""The optional real-model client, against a fake OpenAI-compatible server on 127.0.0.1."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from utils.reasoning import llm_client as L

GOOD = "Here you go:\n```python\ndef solution():\n    eggs = 3 * 12\n    return eggs - 5\n```"
EVIL = "```python\nimport os\ndef solution():\n    return len(os.listdir('/'))\n```"
LOOP = "```python\ndef solution():\n    while True:\n        pass\n```"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        model = body["model"]
        if model == "broken":
            self._send(500, b'{"error": "internal"}')
        elif model == "garbage":
            self._send(200, b"this is not json")
        elif model == "empty":
            self._send(200, json.dumps({"choices": []}).encode())
        elif model == "slow":
            time.sleep(1.5)
            self._send(200, json.dumps({"choices": [{"message": {"content": GOOD}}]}).encode())
            self.server.slow_done.set()
        else:
            reply = {"good": GOOD, "evil": EVIL, "loop": LOOP}[model]
            n = body.get("n", 1)
            self._send(200, json.dumps({"choices": [{"index": i, "message": {"role": "assistant", "content": reply}}
                                                    for i in range(n)]}).encode())

    def _send(self, code, data):
        # The timeout test's client hangs up after 0.3 s, on purpose, while the "slow" model still sleeps:
        # writing to it then fails. A real server shrugs that off, and so does this one (no traceback).
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that hung up is not an error of the test; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.requests = []
    srv.slow_done = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def config(server, model, **kw):
    host, port = server.server_address
    return L.LLMConfig(base_url=f"http://{host}:{port}/v1", model=model, api_key="sk-test", **kw)


def test_off_by_default(monkeypatch):
    for var in (L.ENV_BASE_URL, L.ENV_MODEL, L.ENV_API_KEY):
        monkeypatch.delenv(var, raising=False)
    assert L.LLMConfig.from_env() is None
    with pytest.raises(L.LLMError, match="no model configured"):
        L.solve("What is 2 + 2?")           # nothing is sent anywhere
    assert L.LLMConfig.from_env({}) is None
    assert L.LLMConfig.from_env({L.ENV_BASE_URL: "http://x/v1"}) is None      # no model: still off
    cfg = L.LLMConfig.from_env({L.ENV_BASE_URL: "http://x/v1", L.ENV_MODEL: "m", L.ENV_API_KEY: "k"})
    assert cfg.model == "m" and cfg.api_key == "k" and cfg.endpoint == "http://x/v1/chat/completions"
    assert "'k'" not in repr(cfg)                                               # the key is never printed


def test_solve_runs_the_program_in_the_sandbox(server):
    sols = L.solve("Eggs?", config(server, "good"), n=2)
    assert [s.answer for s in sols] == [31, 31]
    assert sols[0].program.startswith("def solution():") and sols[0].outcome.ok
    req = server.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "good" and req["body"]["n"] == 2
    msgs = req["body"]["messages"]
    assert msgs[0]["role"] == "system" and msgs[-1] == {"role": "user", "content": "Eggs?"}


@pytest.mark.parametrize("isolate", [True, "fresh"])
def test_the_program_runs_in_a_worker_process(server, isolate):
    sol = L.solve("Eggs?", config(server, "good"), isolate=isolate)[0]   # isolate=True is the default
    assert sol.answer == 31 and sol.outcome.ok


def test_hostile_replies_are_refused_and_bounded(server, monkeypatch):
    """Whatever the model writes, solve() returns refusals with short texts, and the next reply still runs."""
    from utils.reasoning import sandbox
    replies = ["```python\nanswer = ().__class__.__bases__[0].__subclasses__()\n```",
               "```python\nt = ()\nfor i in range(20000):\n    t = " + "(" * 50 + "t" + ",)" * 50
               + "\nanswer = len({t})\n```",
               "```python\ndef solution():\n    return 'the answer is 42'\n```",
               "```python\nanswer = float('nan')\n```",
               "```python\nwhile True:\n    pass\n```",
               "no code at all, just prose: the answer is 7",
               "```python\nx = [0] * 10 ** 9\nanswer = 1\n```"]
    monkeypatch.setattr(L, "chat", lambda config, messages, n=1: replies)
    lim = sandbox.Limits(max_seconds=1.0, max_steps=400_000, max_memory_mb=256)
    sols = L.solve("?", config(server, "good"), limits=lim)
    assert [s.answer for s in sols] == [None] * len(replies)
    kinds = [s.outcome.error_type for s in sols]
    assert kinds[4] in ("TimeLimitExceeded", "StepLimitExceeded"), kinds
    assert kinds[:4] + kinds[5:] == ["ForbiddenOperation", "ContainerTooLarge", "NoAnswer", "NoAnswer",
                                     "MalformedProgram", "MemoryLimitExceeded"]
    assert all(len(str(s.outcome)) <= 300 for s in sols)
    monkeypatch.undo()
    assert L.solve("Eggs?", config(server, "good"))[0].answer == 31


def test_malicious_and_endless_programs_are_refused(server):
    sol = L.solve("?", config(server, "evil"))[0]
    assert sol.answer is None and sol.outcome.error_type == "ForbiddenOperation"
    from utils.reasoning.sandbox import Limits
    sol = L.solve("?", config(server, "loop"), limits=Limits(max_seconds=0.5))[0]
    assert sol.answer is None and sol.outcome.error_type in ("StepLimitExceeded", "TimeLimitExceeded")


@pytest.mark.parametrize("model, match", [("broken", "HTTP 500"), ("garbage", "unexpected reply"),
                                          ("empty", "no text choices")])
def test_server_errors_become_llm_errors(server, model, match):
    with pytest.raises(L.LLMError, match=match):
        L.chat(config(server, model), L.pal_messages("q"))


def test_timeout_is_bounded(server, capfd):
    server.slow_done.clear()
    t0 = time.perf_counter()
    with pytest.raises(L.LLMError):
        L.chat(config(server, "slow", timeout=0.3), L.pal_messages("q"))
    assert time.perf_counter() - t0 < 1.4
    # the server answers after the client hung up: that must not print a traceback (BrokenPipeError)
    assert server.slow_done.wait(10)
    time.sleep(0.1)
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Error" not in err, err


def test_unreachable_endpoint():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens on this port now
    with pytest.raises(L.LLMError, match="could not reach"):
        L.chat(L.LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout=2), L.pal_messages("q"))


def test_extract_code_and_prompt():
    assert L.extract_code("```py\nanswer = 1\n```") == "answer = 1"
    assert L.extract_code("answer = 2") == "answer = 2"
    msgs = L.pal_messages("How many?")
    assert len(msgs) == 2 + 2 * len(L.PAL_EXAMPLES)
    from utils.reasoning import sandbox
    for _, code in L.PAL_EXAMPLES:   # the worked examples themselves run in the sandbox
        assert sandbox.safe_run(code).ok


def test_bad_inputs():
    with pytest.raises(ValueError):
        L.LLMConfig(base_url="file:///etc/passwd", model="m")
    with pytest.raises(ValueError):
        L.LLMConfig(base_url="http://x", model=" ")
    with pytest.raises(ValueError):
        L.LLMConfig(base_url="http://x", model="m", timeout=0)
    with pytest.raises(ValueError):
        L.pal_messages("  ")
    with pytest.raises(TypeError):
        L.extract_code(None)
    with pytest.raises(TypeError):
        L.chat("not a config", [])
    with pytest.raises(ValueError):
        L.chat(L.LLMConfig(base_url="http://x", model="m"), [], n=0)

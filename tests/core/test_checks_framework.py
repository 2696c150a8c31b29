"""The learner-facing check framework: messages for stubs, wrong answers and errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from utils.checks import Case, CheckFailed, assert_close, expect, isolated_rng, need, run_check


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def test_stub_gives_friendly_not_implemented():
    with pytest.raises(NotImplementedError, match="`double` is not implemented yet") as info:
        run_check("double", stub, [Case("one", args=(1,), expected=2)])
    rendered = info.value._render_traceback_()
    assert "YOUR CODE HERE" in rendered[0]


def test_wrong_answer_names_case_values_and_hint():
    cases = [Case("two", args=(2,), expected=4), Case("three", args=(3,), expected=6, hint="multiply by 2")]
    with pytest.raises(CheckFailed) as info:
        run_check("double", lambda x: x * 2 if x == 2 else x + 2, cases)
    msg = str(info.value)
    assert "'three'" in msg and "is 5, expected 6" in msg and "Hint: multiply by 2" in msg


def test_success_prints_confirmation(capsys):
    run_check("double", lambda x: 2 * x, [Case("a", args=(1,), expected=2), Case("b", args=(5,), expected=10)])
    assert "double: all 2 check cases passed" in capsys.readouterr().out


def test_learner_exception_is_reraised_with_the_case_named():
    def broken(x):
        return x.nope

    with pytest.raises(AttributeError) as info:
        run_check("f", broken, [Case("int input", args=(1,), expected=1)])
    assert any("int input" in n for n in info.value.__notes__)


def test_passing_something_not_callable_is_a_type_error():
    with pytest.raises(TypeError, match=r"check_f\(f\)"):
        run_check("f", 3, [])


@pytest.mark.parametrize(
    "got, expected, fragment",
    [
        (None, torch.zeros(2), "forget a `return`"),
        ([0.0, 0.0], torch.zeros(2), "should be a torch Tensor"),
        (torch.zeros(3), torch.zeros(2), "shape (3,), expected (2,)"),
        (torch.zeros(2, dtype=torch.int64), torch.zeros(2), "dtype torch.int64"),
        (torch.tensor([0.0, 1.5, 3.0]), torch.tensor([0.0, 1.0, 2.0]), "differs in 2 of 3 entries; first at index (1,)"),
        (torch.tensor([float("nan")]), torch.tensor([1.0]), "differs in 1 of 1"),
        (np.ones(2), np.zeros(2), "first at index (0,)"),
        (2.5, 2.0, "is 2.5, expected 2"),
        ("a", 1.0, "should be a number"),
        (True, 1, "should be a number"),
        ({"a": 1}, {"a": 1, "b": 2}, "has keys"),
        ([1, 2], [1, 2, 3], "length 2, expected 3"),
        ("cat", "dog", "expected 'dog'"),
        (1, True, "expected True"),
    ],
)
def test_assert_close_reports_what_differs(got, expected, fragment):
    with pytest.raises(CheckFailed) as info:
        assert_close(got, expected)
    assert fragment in str(info.value)


def test_assert_close_accepts_equal_values():
    assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    assert_close(torch.tensor(3.0), 3.0)
    assert_close({"x": [1, 2.0]}, {"x": [1, 2.0]})
    assert_close(np.bool_(True), True)


def test_expect():
    expect(True, "fine")
    with pytest.raises(CheckFailed, match="bad"):
        expect(False, "bad")


def test_checks_do_not_disturb_the_notebook_rng():
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    run_check("noisy", lambda: torch.rand(5).sum() * 0, [Case("a", expected=torch.tensor(0.0))], quiet=True)
    with isolated_rng(7):
        np.random.rand(10)
        random.random()
    after = (torch.rand(1).item(), np.random.rand(), random.random())
    assert before == after


def test_checks_do_not_see_inputs_mutated_by_the_learner():
    x = torch.ones(3)

    def in_place(t):
        t.mul_(0)
        return t

    with pytest.raises(CheckFailed):
        run_check("f", in_place, [Case("a", args=(x,), expected=torch.ones(3))])
    assert torch.equal(x, torch.ones(3)), "the check's own input must not change"


def test_need_raises_friendly_not_implemented_for_missing_names():
    present = 1  # noqa: F841
    need("present")
    with pytest.raises(NotImplementedError, match="`absent_result`") as info:
        need("present", "absent_result")
    assert "finish that exercise" in info.value._render_traceback_()[0].lower()


def test_need_treats_a_stub_function_as_missing():
    from tools.build_course import stub_source

    src, _ = stub_source("def q_update(q):\n    ### BEGIN SOLUTION\n    return q\n    ### END SOLUTION", "t")
    scope: dict = {}
    exec(src, scope)
    q_update = scope["q_update"]  # noqa: F841
    with pytest.raises(NotImplementedError, match="`q_update`"):
        need("q_update")

    def done(q):
        return q

    q_update = done  # noqa: F841
    need("q_update")


def test_a_case_that_never_ends_fails_instead_of_hanging():
    import time

    from utils.checks import time_limit

    def endless(x):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a learner's broad except must not swallow the time limit
                pass

    t0 = time.monotonic()
    with pytest.raises(CheckFailed, match="did not finish .* within 0.5 s"):
        run_check("endless", endless, [Case("one", args=(1,), expected=1)], timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    # nested limits: the inner one restores the outer one's remaining time
    with pytest.raises(CheckFailed, match="within 0.3 s"):
        with time_limit(5.0):
            run_check("endless", endless, [Case("one", args=(1,), expected=1)], timeout_s=0.3)


def test_messages_print_plain_numbers():
    import numpy as np

    with pytest.raises(CheckFailed) as e:
        run_check("f", lambda: np.float64(0.5), [Case("one", expected=True)])
    assert "np.float64" not in str(e.value) and "0.5" in str(e.value)
    with pytest.raises(CheckFailed) as e:
        run_check("g", lambda: np.int64(3), [Case("one", expected=np.int64(4))])
    assert "np.int64" not in str(e.value) and "3" in str(e.value) and "4" in str(e.value)

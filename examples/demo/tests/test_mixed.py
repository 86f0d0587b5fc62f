import sys
import pytest


def test_pass_simple():
    assert 1 + 1 == 2


def test_pass_with_stdout():
    print("hello from stdout")
    assert True


# The failures below are deliberate: the demo shows what codeloop reports.

def test_fail_assert():
    expected = {"a": 1, "b": [1, 2, 3]}
    actual = {"a": 1, "b": [1, 2, 4]}
    assert actual == expected


def test_fail_exception():
    raise ValueError("boom: something went <wrong> & \"badly\"")


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture setup exploded")


def test_error_in_setup(broken_fixture):
    assert broken_fixture


@pytest.mark.skip(reason="not implemented yet")
def test_skipped_marker():
    pass


def test_skipped_imperative():
    pytest.skip("skipping at runtime")


@pytest.mark.skipif(sys.platform != "win32", reason="windows only")
def test_skipped_conditional():
    pass


@pytest.mark.xfail(reason="known bug #123")
def test_xfail():
    assert False


@pytest.mark.xfail(reason="fixed already?")
def test_xpass():
    assert True


@pytest.mark.parametrize("a,b,expected", [(1, 2, 3), (2, 2, 4), (3, 3, 7)])
def test_param_add(a, b, expected):
    assert a + b == expected


class TestGrouped:
    def test_method_pass(self):
        assert True

    def test_method_fail(self):
        assert [1, 2] == [1, 2, 3], "lists differ"

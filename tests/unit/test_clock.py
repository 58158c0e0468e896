from habeas import clock
from tests.conftest import FakeLambdaContext


def test_invocation_time_left_is_known_only_within_an_invocation():
    assert clock.invocation_time_left() is None
    with clock.invocation(FakeLambdaContext()):  # 10 s left
        assert 9.0 < clock.invocation_time_left() <= 10.0
        with clock.invocation(object()):  # a context that cannot say
            assert clock.invocation_time_left() is None
        assert clock.invocation_time_left() is not None
    assert clock.invocation_time_left() is None

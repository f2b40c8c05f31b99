"""The authorization lifecycle as a state machine, driven by hypothesis.

Laws: at most one pending request per user; finished requests never change state;
polls agree with the state; cancel and answer obey the rules of emulator-notes 6.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lk_core import generate_private_key
from lk_core.platform import AnswerSpec, AuthState, Platform, PlatformError, RateLimit
from lk_io.emulator._entropy import SystemEntropy

# One device key for every run: RSA generation would dominate the test time, and the
# lifecycle does not depend on which key a device holds.
ENTROPY = SystemEntropy(device_key=generate_private_key())
T0 = 1_900_000_000


T = TypeVar("T")


def attempt(call: Callable[[], T]) -> tuple[T | None, PlatformError | None]:
    """Run a platform call; the result or the refusal, never both."""
    try:
        return call(), None
    except PlatformError as err:
        return None, err


USERS = ("ann", "bob")
Action = Literal["approve", "deny", "fail"]
ACTIONS: st.SearchStrategy[Action] = st.sampled_from(["approve", "deny", "fail"])


class Lifecycle(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.p = Platform(ENTROPY, rate_limit=RateLimit(creates=3, window=60))
        org = self.p.add_organization("o")
        directory = self.p.add_directory(org.id, "d")
        self.services = [
            self.p.add_service(f"dir:{directory.id}", name).id for name in ("a", "b")
        ]
        self.devices: dict[str, str] = {}
        for user in USERS:
            link = self.p.link_device(directory.id, user, T0)
            self.devices[user] = self.p.complete_link(link["code"], T0).id
        self.now = T0
        self.finished: dict[str, AuthState] = {}
        self.created: list[tuple[str, str]] = []  # (auth id, service id)

    @rule(user=st.sampled_from(USERS), svc=st.integers(0, 1), ttl=st.integers(30, 90))
    def create(self, user: str, svc: int, ttl: int) -> None:
        service = self.services[svc]
        out, err = attempt(
            lambda: self.p.create_auth(
                service,
                {"username": user, "ttl": ttl},
                self.now,
                issuer=f"svc:{service}",
                key_id="k",
            )
        )
        if err is not None:
            assert err.status in (400, 429)
            if err.code == "SVC-005":
                assert err.data is not None
                blocking = self.p.auths[err.data["auth_request"]]
                assert blocking.state_at(self.now) is AuthState.PENDING
                same = blocking.service_id == service
                assert err.data["from_same_service"] == same
            return
        assert out is not None
        self.created.append((str(out["auth_request"]), service))

    @precondition(lambda self: bool(self.created))
    @rule(data=st.data(), action=ACTIONS)
    def answer(self, data: st.DataObject, action: Action) -> None:
        auth_id, _ = data.draw(st.sampled_from(self.created))
        auth = self.p.auths.get(auth_id)
        if auth is None:
            return
        state = auth.state_at(self.now)
        spec = AnswerSpec(action=action)
        done, err = attempt(
            lambda: self.p.answer(auth_id, auth.device_ids[0], spec, self.now)
        )
        if err is not None:
            assert state is not AuthState.PENDING
            assert err.status in (404, 409)
            return
        assert state is AuthState.PENDING
        assert done is not None
        assert done.state is AuthState.RESPONDED

    @precondition(lambda self: bool(self.created))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        auth_id, service = data.draw(st.sampled_from(self.created))
        auth = self.p.auths.get(auth_id)
        state = None if auth is None else auth.state_at(self.now)
        _, err = attempt(lambda: self.p.cancel(service, auth_id, self.now))
        if err is not None:
            expected = {
                None: (404, None),
                AuthState.RESPONDED: (400, "SVC-006"),
                AuthState.CANCELED: (400, "SVC-007"),
                AuthState.EXPIRED: (408, None),
            }
            assert (err.status, err.code) == expected[state]
            return
        assert state is AuthState.PENDING

    @precondition(lambda self: bool(self.created))
    @rule(data=st.data())
    def poll(self, data: st.DataObject) -> None:
        auth_id, service = data.draw(st.sampled_from(self.created))
        auth = self.p.auths.get(auth_id)
        state = None if auth is None else auth.state_at(self.now)
        result, err = attempt(lambda: self.p.poll(service, auth_id, self.now))
        if err is not None:
            expected = {
                None: (404, None),
                AuthState.CANCELED: (400, "SVC-007"),
                AuthState.EXPIRED: (408, None),
            }
            assert (err.status, err.code) == expected.get(state)
            return
        if state is AuthState.PENDING:
            assert result is None
        else:
            assert result is not None
            assert result.answer is not None

    @rule(seconds=st.sampled_from([1, 10, 45, 700]))
    def advance(self, seconds: int) -> None:
        self.now += seconds
        self.p.expire(self.now)

    @invariant()
    def one_pending_per_user(self) -> None:
        if not hasattr(self, "p"):
            return
        pending = [
            a.user_id
            for a in self.p.auths.values()
            if a.state_at(self.now) is AuthState.PENDING
        ]
        assert len(pending) == len(set(pending))

    @invariant()
    def finished_requests_stay_finished(self) -> None:
        if not hasattr(self, "p"):
            return
        for auth_id, auth in self.p.auths.items():
            state = auth.state_at(self.now)
            before = self.finished.get(auth_id)
            if before is not None:
                assert state is before
            elif state is not AuthState.PENDING:
                self.finished[auth_id] = state


Lifecycle.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None
)
TestLifecycle = Lifecycle.TestCase

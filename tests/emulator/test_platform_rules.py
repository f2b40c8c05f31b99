"""The platform rules in memory: no sockets, time passed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lk_core import generate_private_key
from lk_core.platform import (
    AnswerSpec,
    AuthResponseEvent,
    AuthState,
    AutoRule,
    DeviceLinkEvent,
    DeviceProfile,
    DeviceStatus,
    Platform,
    PlatformError,
    RateLimit,
    SessionEndEvent,
    _manage,
    _totp,
)
from lk_core.platform._model import Answer
from lk_core.platform._policy import Place, evaluate, parse_service_policy, utc_only
from lk_io.emulator._clock import system_zone
from lk_io.emulator._entropy import SystemEntropy

T0 = 1_800_000_000
# Devices share one key: generating RSA keys would dominate these tests.
ENTROPY = SystemEntropy(device_key=generate_private_key())
US = {
    "type": "TERRITORY",
    "name": "US",
    "country": "US",
    "administrative_area": None,
    "postal_code": None,
}
AMOUNT2 = {"type": "METHOD_AMOUNT", "fences": [], "amount": 2}
REASONS = [
    {"id": "a", "reason": "Fraud", "fraud": True},
    {"id": "b", "reason": "Mistake", "fraud": False},
]


@dataclass
class World:
    p: Platform
    svc: str
    dir: str
    user: str
    device: str


def _world(**kw: object) -> World:
    p = Platform(ENTROPY, **kw)  # type: ignore[arg-type]
    org = p.add_organization("Org")
    d = p.add_directory(
        org.id,
        "Dir",
        denial_context_inquiry_enabled=True,
        webhook_url="http://127.0.0.1:9/dir",
    )
    svc = p.add_service(f"dir:{d.id}", "Svc", callback_url="http://127.0.0.1:9/cb")
    link = p.link_device(d.id, "alice", T0)
    dev = p.complete_link(link["code"], T0)
    p.drain_outbox()
    return World(p=p, svc=svc.id, dir=d.id, user=dev.user_id, device=dev.id)


@pytest.fixture
def w() -> World:
    return _world()


def _create(w: World, now: int = T0, **body: object) -> str:
    fields: dict[str, object] = {"username": "alice", **body}
    out = w.p.create_auth(w.svc, fields, now, issuer=f"svc:{w.svc}", key_id="k")
    return str(out["auth_request"])


def _code(err: pytest.ExceptionInfo[PlatformError]) -> tuple[int, str | None]:
    return err.value.status, err.value.code


class TestLinking:
    def test_link_creates_pending_device_then_linked(self) -> None:
        """A link starts LINK_PENDING and the code completes it with a device key."""
        p = Platform(ENTROPY)
        org = p.add_organization("o")
        d = p.add_directory(org.id, "d")
        link = p.link_device(d.id, "bob", T0)
        assert len(link["code"]) >= 7
        assert link["qrcode"].endswith(link["code"])
        [pending] = p.list_devices(d.id, "bob")
        assert pending.status is DeviceStatus.LINK_PENDING
        device = p.complete_link(link["code"], T0 + 1)
        assert device.status is DeviceStatus.LINKED
        assert device.kid is not None
        assert device.public_pem is not None
        assert device.to_json()["status"] == 1

    def test_expired_code_is_refused(self) -> None:
        """A link code is only good for its ttl."""
        p = Platform(ENTROPY)
        d = p.add_directory(p.add_organization("o").id, "d")
        link = p.link_device(d.id, "bob", T0, ttl=10)
        with pytest.raises(PlatformError) as err:
            p.complete_link(link["code"], T0 + 10)
        assert err.value.status == 404

    def test_link_webhook_queued(self, w: World) -> None:
        """Completing a link queues the device-link webhook for the directory."""
        link = w.p.link_device(w.dir, "alice", T0)
        dev = w.p.complete_link(link["code"], T0)
        [event] = w.p.drain_outbox()
        assert event == DeviceLinkEvent(
            directory_id=w.dir, device_id=dev.id, url="http://127.0.0.1:9/dir"
        )

    def test_unknown_identifier_lists_nothing(self, w: World) -> None:
        """Listing devices of an unknown user gives an empty list."""
        assert w.p.list_devices(w.dir, "nobody") == []

    def test_unlink(self, w: World) -> None:
        """Unlinking removes the device; unlinking it again is 404."""
        w.p.unlink_device(w.dir, "alice", w.device)
        assert w.p.list_devices(w.dir, "alice") == []
        with pytest.raises(PlatformError) as err:
            w.p.unlink_device(w.dir, "alice", w.device)
        assert err.value.status == 404

    def test_unlink_pending_until_acknowledged(self, w: World) -> None:
        """A device that does not acknowledge at once stays UNLINK_PENDING (still
        listed, no new requests) until it acknowledges; then it is gone."""
        profile = DeviceProfile(ack_unlink=False)
        w.p.update_device(w.device, T0, profile=profile)
        w.p.unlink_device(w.dir, "alice", w.device, T0 + 5)
        w.p.unlink_device(w.dir, "alice", w.device, T0 + 9)  # again: no change
        [listed] = w.p.list_devices(w.dir, "alice")
        assert listed.status is DeviceStatus.UNLINK_PENDING
        assert listed.to_json()["status"] == 2
        assert listed.updated == T0 + 5
        with pytest.raises(PlatformError) as err:
            _create(w)
        assert err.value.status == 404  # no LINKED device left for the request
        w.p.acknowledge_unlink(w.device)
        assert w.p.list_devices(w.dir, "alice") == []
        with pytest.raises(PlatformError) as err:
            w.p.acknowledge_unlink(w.device)
        assert err.value.status == 404

    def test_acknowledge_without_unlink_is_409(self, w: World) -> None:
        """Only a waiting unlink can be acknowledged."""
        with pytest.raises(PlatformError) as err:
            w.p.acknowledge_unlink(w.device)
        assert err.value.status == 409

    def test_bad_identifier(self, w: World) -> None:
        """An empty identifier is DIR-001."""
        with pytest.raises(PlatformError) as err:
            w.p.link_device(w.dir, "", T0)
        assert _code(err) == (400, "DIR-001")


class TestCreate:
    def test_response_shape(self, w: World) -> None:
        """A Directory Service gets an id, the device ids and a push package."""
        out = w.p.create_auth(
            w.svc, {"username": "alice"}, T0, issuer=f"svc:{w.svc}", key_id="k"
        )
        assert out["device_ids"] == [w.device]
        assert isinstance(out["push_package"], str)
        assert out["push_package"]

    @pytest.mark.parametrize("ttl", [29, 601, "300", True])
    def test_ttl_range(self, w: World, ttl: object) -> None:
        """ttl outside 30..600 or not an integer is ARG-001 keyed by ttl."""
        with pytest.raises(PlatformError) as err:
            _create(w, ttl=ttl)
        assert _code(err) == (400, "ARG-001")
        assert err.value.detail is not None
        assert "ttl" in err.value.detail

    def test_default_ttl(self, w: World) -> None:
        """Without ttl a request lives 300 seconds."""
        auth = w.p.auths[_create(w)]
        assert auth.expires - auth.created == 300

    def test_unknown_user_is_404(self, w: World) -> None:
        """An unknown username is EntityNotFound."""
        with pytest.raises(PlatformError) as err:
            _create(w, username="mallory")
        assert _code(err) == (404, None)

    def test_user_without_linked_device_is_404(self, w: World) -> None:
        """A user whose only device is still pending cannot be asked."""
        w.p.link_device(w.dir, "carol", T0)
        with pytest.raises(PlatformError) as err:
            _create(w, username="carol")
        assert err.value.status == 404

    def test_one_pending_per_user(self, w: World) -> None:
        """A second request while one is pending is SVC-005 with error_data."""
        first = _create(w)
        other = w.p.add_service(f"dir:{w.dir}", "Other")
        with pytest.raises(PlatformError) as err:
            w.p.create_auth(
                other.id, {"username": "alice"}, T0 + 5, issuer="x", key_id="k"
            )
        assert _code(err) == (400, "SVC-005")
        assert err.value.data == {
            "auth_request": first,
            "expires": "2027-01-15T08:05:00Z",
            "from_same_service": False,
        }
        with pytest.raises(PlatformError) as again:
            _create(w, now=T0 + 6)
        assert again.value.data is not None
        assert again.value.data["from_same_service"] is True

    def test_pending_frees_after_expiry(self, w: World) -> None:
        """Once the first request expires a new one may be made."""
        _create(w, ttl=30)
        assert _create(w, now=T0 + 30)

    def test_denial_reasons_need_inquiry_enabled(self, w: World) -> None:
        """denial_reasons need the directory flag."""
        w.p.update_directory(w.dir, denial_context_inquiry_enabled=False)
        with pytest.raises(PlatformError) as err:
            _create(w, denial_reasons=REASONS)
        assert _code(err) == (400, "ARG-001")

    @pytest.mark.parametrize(
        "reasons",
        [
            REASONS[:1],
            [REASONS[0], {**REASONS[1], "fraud": True}],
            [REASONS[0], {**REASONS[1], "id": "a"}],
            [REASONS[0], {**REASONS[1], "id": "toolong"}],
        ],
    )
    def test_denial_reason_rules(self, w: World, reasons: object) -> None:
        """Too few, no non-fraud, duplicate ids or long ids are ARG-001."""
        with pytest.raises(PlatformError) as err:
            _create(w, denial_reasons=reasons)
        assert _code(err) == (400, "ARG-001")

    def test_org_service_rejects_title(self, w: World) -> None:
        """title is for Directory Services only."""
        org_id = w.p.directories[w.dir].org_id
        svc = w.p.add_service(f"org:{org_id}", "OrgSvc")
        with pytest.raises(PlatformError) as err:
            w.p.create_auth(
                svc.id, {"username": "alice", "title": "t"}, T0, issuer="x", key_id="k"
            )
        assert _code(err) == (400, "ARG-001")

    def test_org_service_has_no_push_package(self, w: World) -> None:
        """An Organization Service's answer has no push_package key."""
        org_id = w.p.directories[w.dir].org_id
        svc = w.p.add_service(f"org:{org_id}", "OrgSvc")
        out = w.p.create_auth(svc.id, {"username": "alice"}, T0, issuer="x", key_id="k")
        assert "push_package" not in out

    def test_bad_policy_is_svc002(self, w: World) -> None:
        """A malformed policy is SVC-002."""
        with pytest.raises(PlatformError) as err:
            _create(w, policy={"minimum_requirements": "lots"})
        assert _code(err) == (400, "SVC-002")

    def test_unsatisfiable_policy_is_svc003(self, w: World) -> None:
        """A policy no device can meet is SVC-003."""
        policy = {
            "minimum_requirements": [{"requirement": "authenticated", "possession": 1}]
        }
        with pytest.raises(PlatformError) as err:
            _create(w, policy=policy)
        assert _code(err) == (400, "SVC-003")

    def test_rate_limit(self) -> None:
        """More than the allowed creates per window is 429."""
        w = _world(rate_limit=RateLimit(creates=2, window=60))
        for i in range(2):
            w.p.cancel(w.svc, _create(w, now=T0 + i), T0 + i)
        with pytest.raises(PlatformError) as err:
            _create(w, now=T0 + 2)
        assert err.value.status == 429
        assert _create(w, now=T0 + 60)


class TestLifecycle:
    def test_poll_pending_then_answer(self, w: World) -> None:
        """Polling gives None until the device answers, then the request."""
        auth_id = _create(w)
        assert w.p.poll(w.svc, auth_id, T0 + 1) is None
        w.p.answer(auth_id, w.device, AnswerSpec(), T0 + 2)
        auth = w.p.poll(w.svc, auth_id, T0 + 3)
        assert auth is not None
        assert auth.answer is not None
        assert (auth.answer.type, auth.answer.reason) == ("AUTHORIZED", "APPROVED")
        [event] = w.p.drain_outbox()
        assert isinstance(event, AuthResponseEvent)
        assert event.auth_request == auth_id

    def test_poll_expired_is_408(self, w: World) -> None:
        """After the ttl the poll is 408, and retention ends in 404."""
        auth_id = _create(w, ttl=30)
        with pytest.raises(PlatformError) as err:
            w.p.poll(w.svc, auth_id, T0 + 30)
        assert err.value.status == 408
        with pytest.raises(PlatformError) as gone:
            w.p.poll(w.svc, auth_id, T0 + 30 + 600)
        assert gone.value.status == 404

    def test_cancel_rules(self, w: World) -> None:
        """Cancel once is fine; again is SVC-007; polls then say SVC-007."""
        auth_id = _create(w)
        w.p.cancel(w.svc, auth_id, T0)
        for call in (w.p.cancel, w.p.poll):
            with pytest.raises(PlatformError) as err:
                call(w.svc, auth_id, T0 + 1)
            assert _code(err) == (400, "SVC-007")

    def test_cancel_answered_is_svc006(self, w: World) -> None:
        """An answered request cannot be cancelled."""
        auth_id = _create(w)
        w.p.answer(auth_id, w.device, AnswerSpec(action="deny"), T0)
        with pytest.raises(PlatformError) as err:
            w.p.cancel(w.svc, auth_id, T0)
        assert _code(err) == (400, "SVC-006")

    def test_cancel_expired_is_408(self, w: World) -> None:
        """Cancelling an expired request is 408 (proposal)."""
        auth_id = _create(w)
        w.p.expire_now(auth_id, T0 + 1)
        with pytest.raises(PlatformError) as err:
            w.p.cancel(w.svc, auth_id, T0 + 1)
        assert err.value.status == 408

    def test_other_service_cannot_see_request(self, w: World) -> None:
        """A request reads as unknown to another service."""
        auth_id = _create(w)
        other = w.p.add_service(f"dir:{w.dir}", "Other")
        with pytest.raises(PlatformError) as err:
            w.p.poll(other.id, auth_id, T0)
        assert err.value.status == 404

    def test_answer_twice_refused(self, w: World) -> None:
        """A device cannot answer an answered request."""
        auth_id = _create(w)
        w.p.answer(auth_id, w.device, AnswerSpec(), T0)
        with pytest.raises(PlatformError) as err:
            w.p.answer(auth_id, w.device, AnswerSpec(), T0)
        assert err.value.status == 409

    def test_auto_answer(self, w: World) -> None:
        """An auto rule answers when its time comes."""
        w.p.set_auto(w.device, AutoRule(answer=AnswerSpec(action="deny"), after=5), T0)
        auth_id = _create(w)
        assert w.p.tick(T0 + 4) == []
        [auth] = w.p.tick(T0 + 5)
        assert auth.id == auth_id
        assert auth.answer is not None
        assert auth.answer.type == "DENIED"


class TestAnswers:
    def test_deny_with_reason(self, w: World) -> None:
        """A chosen denial reason carries its id and its fraud flag."""
        auth_id = _create(w, denial_reasons=REASONS)
        spec = AnswerSpec(action="deny", denial_reason="a")
        answer = w.p.answer(auth_id, w.device, spec, T0).answer
        assert answer is not None
        assert (answer.type, answer.reason, answer.denial_reason) == (
            "DENIED",
            "FRAUDULENT",
            "a",
        )

    def test_deny_without_custom_reasons(self, w: World) -> None:
        """Without custom reasons a denial carries no id."""
        auth_id = _create(w)
        answer = w.p.answer(auth_id, w.device, AnswerSpec(action="deny"), T0).answer
        assert answer is not None
        assert (answer.reason, answer.denial_reason) == ("DISAPPROVED", None)

    def test_fail(self, w: World) -> None:
        """A failure reports its reason."""
        auth_id = _create(w)
        spec = AnswerSpec(action="fail", fail_reason="BUSY_LOCAL")
        answer = w.p.answer(auth_id, w.device, spec, T0).answer
        assert answer is not None
        assert (answer.type, answer.reason) == (
            "FAILED",
            "BUSY_LOCAL",
        )

    def test_geofence(self, w: World) -> None:
        """An approval outside the fence fails with POLICY; inside it passes."""
        fence = {"latitude": 36.1, "longitude": -115.1, "radius": 150.0}
        policy = {
            "minimum_requirements": [],
            "factors": [
                {"factor": "geofence", "attributes": {"locations": [fence]}},
            ],
        }
        auth_id = _create(w, policy=policy)
        away = AnswerSpec(location=(36.2, -115.1))
        answer = w.p.answer(auth_id, w.device, away, T0).answer
        assert answer is not None
        assert (answer.type, answer.reason) == (
            "FAILED",
            "POLICY",
        )
        assert answer.auth_policy is not None
        assert answer.auth_policy["geofences"][0]["radius"] == 150.0
        auth_id = _create(w, now=T0 + 1, policy=policy)
        near = AnswerSpec(location=(36.1005, -115.1))
        answer = w.p.answer(auth_id, w.device, near, T0 + 1).answer
        assert answer is not None
        assert answer.type == "AUTHORIZED"

    def test_jailbroken_with_device_integrity(self, w: World) -> None:
        """A jailbroken device fails a policy with device integrity on."""
        integrity = {"factor": "device integrity", "attributes": {"factor enabled": 1}}
        policy = {"factors": [integrity]}
        auth_id = _create(w, policy=policy)
        spec = AnswerSpec(jailbroken=True)
        answer = w.p.answer(auth_id, w.device, spec, T0).answer
        assert answer is not None
        assert answer.reason == "POLICY"

    def test_types_policy(self, w: World) -> None:
        """Using too few factor types fails; using them all passes."""
        policy = {
            "minimum_requirements": [
                {"requirement": "authenticated", "knowledge": 1, "inherence": 1}
            ]
        }
        auth_id = _create(w, policy=policy)
        spec = AnswerSpec(methods=("PIN_CODE",))
        answer = w.p.answer(auth_id, w.device, spec, T0).answer
        assert answer is not None
        assert answer.reason == "POLICY"
        assert answer.auth_policy == {
            "requirement": "types",
            "types": ["knowledge", "inherence"],
            "geofences": [],
        }
        auth_id = _create(w, now=T0 + 1, policy=policy)
        answer = w.p.answer(auth_id, w.device, AnswerSpec(), T0 + 1).answer
        assert answer is not None
        assert answer.reason == "APPROVED"
        methods = {m["method"]: m for m in answer.auth_methods}
        assert len(methods) == 7
        assert methods["PIN_CODE"]["passed"] is True
        assert methods["FACE"]["set"] is False
        assert all(len(m) == 8 for m in answer.auth_methods)

    def test_pins_rotate_fifo(self, w: World) -> None:
        """Each answer pushes one new PIN and drops the oldest."""
        first = _create(w)
        a1 = w.p.answer(first, w.device, AnswerSpec(), T0).answer
        second = _create(w, now=T0 + 1)
        a2 = w.p.answer(second, w.device, AnswerSpec(), T0 + 1).answer
        assert a1 is not None
        assert a2 is not None
        assert len(a1.service_pins) == 5
        assert a2.service_pins[:4] == a1.service_pins[1:]

    def test_legacy_payload(self, w: World) -> None:
        """The legacy package says response true only for an approval."""
        auth_id = _create(w)
        answer = w.p.answer(auth_id, w.device, AnswerSpec(), T0).answer
        assert answer is not None
        legacy = answer.legacy_payload(auth_id)
        assert legacy["response"] is True
        assert legacy["auth_request"] == auth_id


class TestHashesAndSessions:
    def test_hashes_stable_and_scoped(self, w: World) -> None:
        """Hashes are stable per (service, user) and differ between services."""
        other = w.p.add_service(f"dir:{w.dir}", "Other")
        h1 = w.p.service_user_hash(w.svc, w.user)
        assert h1 == w.p.service_user_hash(w.svc, w.user)
        assert h1 != w.p.service_user_hash(other.id, w.user)
        assert w.p.org_user_hash(w.svc, w.user) == w.p.org_user_hash(other.id, w.user)

    def test_push_id_usable_as_username(self, w: World) -> None:
        """A user_push_id resolves to the same user."""
        push_id = w.p.user_push_id(w.svc, w.user)
        assert w.p.resolve_user(w.svc, push_id).id == w.user

    def test_sessions_and_device_logout(self, w: World) -> None:
        """A device-side logout ends the session and queues the session-end hook."""
        w.p.start_session(
            w.svc, {"username": "alice", "auth_request": "x"}, T0, issuer="svc:s"
        )
        [session] = w.p.user_sessions(w.user)
        assert w.p.session_json(session)["service_name"] == "Svc"
        assert w.p.end_user_sessions(w.user, T0 + 9) == 1
        [event] = w.p.drain_outbox()
        assert event == SessionEndEvent(
            service_id=w.svc,
            audience="svc:s",
            service_user_hash=w.p.service_user_hash(w.svc, w.user),
            when=T0 + 9,
            url="http://127.0.0.1:9/cb",
        )

    def test_service_end_session(self, w: World) -> None:
        """A service-side end removes the session without a webhook."""
        w.p.start_session(w.svc, {"username": "alice"}, T0, issuer="svc:s")
        w.p.end_session(w.svc, {"username": "alice"})
        assert w.p.user_sessions(w.user) == []
        assert w.p.drain_outbox() == []


class TestTotp:
    def test_verify(self, w: World) -> None:
        """The current code verifies, a wrong one does not, no config is 404."""
        body = {"identifier": "alice", "otp": "000000"}
        with pytest.raises(PlatformError) as err:
            w.p.verify_totp(w.svc, body, T0)
        assert err.value.status == 404
        config = w.p.generate_totp(w.user)
        code = _totp.code_at(config.secret, T0)
        assert w.p.verify_totp(w.svc, {"identifier": "alice", "otp": code}, T0)
        assert w.p.verify_totp(w.svc, {"identifier": "alice", "otp": code}, T0 + 30)
        assert not w.p.verify_totp(w.svc, {"identifier": "alice", "otp": code}, T0 + 95)
        w.p.remove_totp(w.user)
        with pytest.raises(PlatformError):
            w.p.verify_totp(w.svc, body, T0)

    def test_rfc6238_vector(self) -> None:
        """RFC 6238 appendix B, SHA1, T=59: 94287082 (8 digits)."""
        secret = _totp.secret_from_bytes(b"12345678901234567890")
        assert _totp.code_at(secret, 59, digits=8) == "94287082"


def test_state_names() -> None:
    """The lifecycle states are the four of emulator-notes 6."""
    names = {s.value for s in AuthState}
    assert names == {"PENDING", "RESPONDED", "CANCELED", "EXPIRED"}
    assert DeviceProfile().methods == ("PIN_CODE", "FINGERPRINT")


class TestServicePolicy:
    @pytest.mark.parametrize(
        ("raw", "amount", "types"),
        [
            ({"type": "METHOD_AMOUNT", "amount": 2, "fences": []}, 2, ()),
            (
                {"type": "FACTORS", "factors": ["POSSESSION", "KNOWLEDGE"]},
                0,
                ("knowledge", "possession"),
            ),
            (
                {"type": "LEGACY", "amount": 1, "inherence_required": True},
                1,
                ("inherence",),
            ),
            ({"minimum_requirements": [], "factors": []}, 0, ()),
        ],
    )
    def test_typed_shapes(self, raw: object, amount: int, types: object) -> None:
        """Typed LEGACY, METHOD_AMOUNT and FACTORS policies read as requirements."""
        policy = parse_service_policy(raw)
        assert (policy.amount, policy.types) == (amount, types)

    @pytest.mark.parametrize(
        "raw",
        [
            {"type": "COND_GEO", "fences": [], "inside": {}, "outside": {}},
            {"type": "COND_GEO", "fences": [US], "inside": AMOUNT2},
            {"type": "COND_GEO", "fences": [US], "inside": AMOUNT2, "outside": US},
            {
                "type": "COND_GEO",
                "fences": [US],
                "inside": {**AMOUNT2, "fences": [US]},
                "outside": AMOUNT2,
            },
            {
                "type": "COND_GEO",
                "fences": [US],
                "inside": {**AMOUNT2, "deny_rooted_jailbroken": True},
                "outside": AMOUNT2,
            },
            {"type": "FACTORS", "factors": []},
            {"type": "METHOD_AMOUNT", "fences": [{"type": "TERRITORY"}]},
            {"type": "METHOD_AMOUNT", "fences": [{**US, "country": "usa"}]},
            {
                "type": "METHOD_AMOUNT",
                "fences": [{**US, "administrative_area": "NV"}],
            },
            {"type": "METHOD_AMOUNT", "fences": [{"type": "SQUARE"}]},
            {"type": "LEGACY", "amount": 1, "fences": [US]},
            {"type": "MAGIC"},
        ],
    )
    def test_unsupported_or_bad(self, raw: object) -> None:
        """Malformed COND_GEO and TERRITORY parts, empty factor lists, unknown
        fence and policy types are SVC-002."""
        with pytest.raises(PlatformError) as err:
            parse_service_policy(raw)
        assert _code(err) == (400, "SVC-002")

    def test_service_policy_refuses_emulators(self, w: World) -> None:
        """A service policy with deny_emulator_simulator fails emulator devices."""
        policy = {"type": "METHOD_AMOUNT", "amount": 1, "deny_emulator_simulator": True}
        w.p.update_service(w.svc, policy=parse_service_policy(policy))
        auth_id = _create(w)
        spec = AnswerSpec(emulator=True)
        answer = w.p.answer(auth_id, w.device, spec, T0).answer
        assert answer is not None
        assert (answer.type, answer.reason) == ("FAILED", "POLICY")
        auth_id = _create(w, now=T0 + 1)
        answer = w.p.answer(auth_id, w.device, AnswerSpec(), T0 + 1).answer
        assert answer is not None
        assert answer.type == "AUTHORIZED"


class TestDirectoryManagement:
    def test_foreign_and_unknown_services(self, w: World) -> None:
        """Another directory's service is 403; an unknown one SVC-004."""
        org_id = w.p.directories[w.dir].org_id
        other = w.p.add_directory(org_id, "Other")
        with pytest.raises(PlatformError) as err:
            _manage.list_keys(w.p, f"dir:{other.id}", {"service_id": w.svc}, T0)
        assert err.value.status == 403
        with pytest.raises(PlatformError) as unknown:
            _manage.list_keys(w.p, f"dir:{w.dir}", {"service_id": "nope"}, T0)
        assert _code(unknown) == (404, "SVC-004")

    def test_key_errors(self, w: World) -> None:
        """A bad PEM is KEY-001, a duplicate KEY-002, an unknown id KEY-003."""
        body = {"service_id": w.svc, "public_key": "not a key"}
        with pytest.raises(PlatformError) as bad:
            _manage.add_key(w.p, f"dir:{w.dir}", body, T0)
        assert _code(bad) == (400, "KEY-001")
        pem = generate_private_key().public.pem
        body = {"service_id": w.svc, "public_key": pem}
        assert _manage.add_key(w.p, f"dir:{w.dir}", body, T0)[0] == 201
        with pytest.raises(PlatformError) as dup:
            _manage.add_key(w.p, f"dir:{w.dir}", body, T0)
        assert _code(dup) == (400, "KEY-002")
        with pytest.raises(PlatformError) as missing:
            _manage.update_key(
                w.p, f"dir:{w.dir}", {"service_id": w.svc, "key_id": "x"}, T0
            )
        assert _code(missing) == (400, "KEY-003")

    def test_name_taken(self, w: World) -> None:
        """Two services of one directory cannot share a name."""
        with pytest.raises(PlatformError) as err:
            _manage.create_service(w.p, f"dir:{w.dir}", {"name": "Svc"}, T0)
        assert _code(err) == (400, "SVC-001")


def _cond_geo(*fences: dict[str, object]) -> dict[str, object]:
    """Two methods inside the fences, possession outside."""
    return {
        "type": "COND_GEO",
        "fences": list(fences),
        "inside": {"type": "METHOD_AMOUNT", "amount": 2},
        "outside": {"type": "FACTORS", "factors": ["POSSESSION"]},
        "deny_rooted_jailbroken": False,
        "deny_emulator_simulator": False,
    }


class TestConditionalGeofence:
    """COND_GEO service policies and TERRITORY fences (policies.md 2 and 4)."""

    def _world(self, policy: dict[str, object]) -> World:
        w = _world()
        w.p.update_service(w.svc, policy=parse_service_policy(policy))
        methods = ("PIN_CODE", "FINGERPRINT", "WEARABLES")
        w.p.update_device(w.device, T0, profile=DeviceProfile(methods=methods))
        return w

    def _answer(self, w: World, now: int, **spec: object) -> Answer:
        auth_id = _create(w, now=now)
        answer = w.p.answer(auth_id, w.device, AnswerSpec(**spec), now).answer  # type: ignore[arg-type]
        assert answer is not None
        return answer

    def test_inside_applies_inside_branch(self) -> None:
        """A device in the territory needs two methods, not possession."""
        w = self._world(_cond_geo(US))
        nv = Place(country="US", administrative_area="US-NV")
        two = ("PIN_CODE", "FINGERPRINT")
        answer = self._answer(w, T0, territory=nv, methods=two)
        assert (answer.type, answer.reason) == ("AUTHORIZED", "APPROVED")
        assert answer.auth_policy == {
            "requirement": "cond_geo",
            "amount": 2,
            "geofences": [US],
        }
        one = ("PIN_CODE",)
        answer = self._answer(w, T0 + 1, territory=nv, methods=one)
        assert (answer.type, answer.reason) == ("FAILED", "POLICY")

    def test_outside_applies_outside_branch(self) -> None:
        """Elsewhere, or with no territory at all, possession is required."""
        w = self._world(_cond_geo(US))
        two = ("PIN_CODE", "FINGERPRINT")
        for now, place in ((T0, Place(country="FR")), (T0 + 1, None)):
            answer = self._answer(w, now, territory=place, methods=two)
            assert (answer.type, answer.reason) == ("FAILED", "POLICY")
            assert answer.auth_policy is not None
            assert answer.auth_policy["types"] == ["possession"]
            assert "amount" not in answer.auth_policy
        answer = self._answer(
            w, T0 + 2, territory=Place(country="FR"), methods=("WEARABLES",)
        )
        assert (answer.type, answer.reason) == ("AUTHORIZED", "APPROVED")

    def test_device_profile_territory_is_used(self) -> None:
        """Without a territory in the answer, the device profile's counts."""
        w = self._world(_cond_geo(US))
        profile = DeviceProfile(
            methods=("PIN_CODE", "FINGERPRINT"), territory=Place(country="US")
        )
        w.p.update_device(w.device, T0, profile=profile)
        answer = self._answer(w, T0)
        assert (answer.type, answer.reason) == ("AUTHORIZED", "APPROVED")

    def test_circle_condition_fence(self) -> None:
        """A GEO_CIRCLE condition fence is matched on latitude and longitude."""
        circle = {"type": "GEO_CIRCLE", "latitude": 36.1, "longitude": -115.1}
        w = self._world(_cond_geo({**circle, "radius": 500.0, "name": "strip"}))
        two = ("PIN_CODE", "FINGERPRINT")
        answer = self._answer(w, T0, location=(36.1001, -115.1), methods=two)
        assert (answer.type, answer.reason) == ("AUTHORIZED", "APPROVED")
        answer = self._answer(w, T0 + 1, location=(40.0, -74.0), methods=two)
        assert (answer.type, answer.reason) == ("FAILED", "POLICY")

    @pytest.mark.parametrize(
        ("fence", "place", "inside"),
        [
            ({"country": "US"}, Place(country="US"), True),
            ({"country": "US"}, Place(country="CA"), False),
            (
                {"country": "US", "administrative_area": "US-NV"},
                Place(country="US", administrative_area="US-NV"),
                True,
            ),
            (
                {"country": "US", "administrative_area": "US-NV"},
                Place(country="US", administrative_area="US-CA"),
                False,
            ),
            (
                {"country": "US", "administrative_area": "US-NV"},
                Place(country="US"),
                False,
            ),
            (
                {"country": "GB", "postal_code": "SW1A 1AA"},
                Place(country="GB", postal_code="sw1a1aa"),
                True,
            ),
            (
                {"country": "GB", "postal_code": "SW1A 1AA"},
                Place(country="GB", postal_code="SW1A 2AA"),
                False,
            ),
            ({"country": "GB", "postal_code": "SW1A 1AA"}, None, False),
        ],
    )
    def test_territory_matching(
        self, fence: dict[str, object], place: Place | None, inside: bool
    ) -> None:
        """Country must match; area and postal code only narrow when set."""
        raw = {"type": "METHOD_AMOUNT", "fences": [{"type": "TERRITORY", **fence}]}
        policy = parse_service_policy(raw)
        verdict = evaluate(
            policy,
            used=("PIN_CODE",),
            location=(0.0, 0.0),
            jailbroken=False,
            emulator=False,
            place=place,
        )
        assert verdict.passed is inside
        assert verdict.inside_fence is inside

    def test_request_policy_tightens_either_branch(self) -> None:
        """A request's own amount still applies inside the territory."""
        w = self._world(_cond_geo(US))
        body = {"minimum_requirements": [{"requirement": "authenticated", "any": 3}]}
        auth_id = _create(w, policy=body)
        spec = AnswerSpec(
            territory=Place(country="US"), methods=("PIN_CODE", "FINGERPRINT")
        )
        answer = w.p.answer(auth_id, w.device, spec, T0).answer
        assert answer is not None
        assert answer.reason == "POLICY"
        assert answer.auth_policy is not None
        assert answer.auth_policy["amount"] == 3

    def test_unsatisfiable_in_both_branches_is_svc003(self) -> None:
        """SVC-003 only when neither branch could be met by the device."""
        w = self._world(_cond_geo(US))
        profile = DeviceProfile(methods=("PIN_CODE",))
        w.p.update_device(w.device, T0, profile=profile)
        with pytest.raises(PlatformError) as err:
            _create(w)
        assert _code(err) == (400, "SVC-003")

    def test_read_back_as_stored(self) -> None:
        """A COND_GEO policy reads back exactly as it was set."""
        w = _world()
        raw = _cond_geo(US)
        owner = f"dir:{w.dir}"
        _manage.set_policy(w.p, owner, {"service_id": w.svc, "policy": raw}, T0)
        status, body = _manage.get_policy(w.p, owner, {"service_id": w.svc}, T0)
        assert (status, body) == (200, raw)


def _window(
    days: list[str], start: tuple[int, int], end: tuple[int, int], zone: str
) -> dict[str, object]:
    return {
        "name": "hours",
        "days": days,
        "start hour": start[0],
        "start minute": start[1],
        "end hour": end[0],
        "end minute": end[1],
        "timezone": zone,
    }


def _timefence(*windows: dict[str, object]) -> dict[str, object]:
    factor = {"factor": "timefence", "attributes": {"time fences": list(windows)}}
    return {"minimum_requirements": [], "factors": [factor]}


class TestTimeFences:
    """Time fences are checked against platform time (T0 is Friday 08:00 UTC)."""

    def _verdict(self, w: World, policy: dict[str, object], now: int = T0) -> str:
        auth_id = _create(w, now=now, policy=policy)
        answer = w.p.answer(auth_id, w.device, AnswerSpec(), now).answer
        assert answer is not None
        return f"{answer.type}/{answer.reason}"

    @pytest.mark.parametrize(
        ("window", "verdict"),
        [
            # 09:00 in Paris (UTC+1 in January) is T0.
            (_window(["Friday"], (9, 0), (9, 30), "Europe/Paris"), "AUTHORIZED"),
            (_window(["Friday"], (9, 0), (9, 30), "UTC"), "FAILED"),
            (_window(["Friday"], (8, 0), (8, 0), "UTC"), "AUTHORIZED"),
            (_window(["friday"], (7, 0), (7, 59), "UTC"), "FAILED"),
            (_window(["Thursday"], (8, 0), (9, 0), "UTC"), "FAILED"),
            # 03:00 Friday in New York: the tail of Thursday's overnight window.
            (_window(["Thursday"], (22, 0), (4, 0), "America/New_York"), "AUTHORIZED"),
            (_window(["Friday"], (22, 0), (4, 0), "America/New_York"), "FAILED"),
        ],
    )
    def test_window(self, window: dict[str, object], verdict: str) -> None:
        """Days, start and end (inclusive) and the fence's own time zone decide."""
        w = _world()
        w.p.zones = system_zone
        assert self._verdict(w, _timefence(window)).split("/")[0] == verdict

    def test_any_fence_suffices_and_failure_is_policy(self) -> None:
        """Inside one of several fences passes; outside all is FAILED/POLICY."""
        w = _world()
        w.p.zones = system_zone
        early = _window(["Monday"], (6, 0), (7, 0), "UTC")
        now = _window(["Friday"], (7, 0), (9, 0), "UTC")
        assert self._verdict(w, _timefence(early, now)) == "AUTHORIZED/APPROVED"
        assert self._verdict(w, _timefence(early), T0 + 1) == "FAILED/POLICY"

    def test_clock_moves_the_verdict(self) -> None:
        """The same stored fence passes at T0 and fails two hours later."""
        w = _world()
        raw = {
            "type": "LEGACY",
            "amount": 0,
            "time_restrictions": [_window(["Friday"], (7, 30), (9, 0), "UTC")],
        }
        w.p.update_service(w.svc, policy=parse_service_policy(raw))
        assert self._verdict(w, {}) == "AUTHORIZED/APPROVED"
        assert self._verdict(w, {}, T0 + 7200) == "FAILED/POLICY"

    def test_unknown_zone_is_svc002(self) -> None:
        """A zone that cannot be loaded is refused when the policy arrives."""
        w = _world()
        w.p.zones = system_zone
        bad = _timefence(_window(["Friday"], (0, 0), (23, 59), "Mars/Olympus"))
        with pytest.raises(PlatformError) as err:
            _create(w, policy=bad)
        assert _code(err) == (400, "SVC-002")
        assert "Mars/Olympus" in str(err.value)

    def test_missing_zone_data_fails_closed(self) -> None:
        """A stored fence whose zone data is gone fails every approval."""
        w = _world()
        w.p.zones = system_zone
        raw = {
            "type": "LEGACY",
            "time_restrictions": [_window(["Friday"], (0, 0), (23, 59), "Asia/Tokyo")],
        }
        w.p.update_service(w.svc, policy=parse_service_policy(raw))
        assert self._verdict(w, {}) == "AUTHORIZED/APPROVED"
        w.p.zones = utc_only  # as on a machine without zone data
        assert self._verdict(w, {}, T0 + 1) == "FAILED/POLICY"
        with pytest.raises(PlatformError) as err:
            w.p.update_service(w.svc, policy=parse_service_policy(raw))
        assert _code(err) == (400, "SVC-002")

    @pytest.mark.parametrize(
        "window",
        [
            {**_window(["Friday"], (0, 0), (1, 0), "UTC"), "days": []},
            {**_window(["Friday"], (0, 0), (1, 0), "UTC"), "days": ["Fri"]},
            _window(["Friday"], (24, 0), (1, 0), "UTC"),
            _window(["Friday"], (0, 60), (1, 0), "UTC"),
            {**_window(["Friday"], (0, 0), (1, 0), "UTC"), "end hour": True},
            {**_window(["Friday"], (0, 0), (1, 0), "UTC"), "timezone": 5},
        ],
    )
    def test_malformed_is_svc002(self, window: dict[str, object]) -> None:
        """Bad days, hours, minutes or zones are SVC-002 in both policy shapes."""
        with pytest.raises(PlatformError) as err:
            parse_service_policy(_timefence(window))
        assert _code(err) == (400, "SVC-002")
        typed = {"type": "LEGACY", "time_restrictions": [window]}
        with pytest.raises(PlatformError) as err:
            parse_service_policy(typed)
        assert _code(err) == (400, "SVC-002")

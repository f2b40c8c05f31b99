"""Headers: case-insensitive, multi-valued, built from whatever frameworks hand out."""

from __future__ import annotations

import pytest

from lk_core import Headers, HttpRequest, HttpResponse


class _FrameworkHeaders:
    """Quacks like werkzeug/starlette header objects: has items(), is no Mapping."""

    def items(self) -> list[tuple[str, str]]:
        return [("X-Iov-Jwt", "token"), ("Location", "/x")]


class TestHeaders:
    @pytest.mark.parametrize(
        "name", ["X-IOV-JWT", "x-iov-jwt", "X-Iov-Jwt", "x-IOV-jwt"]
    )
    def test_lookup_ignores_case(self, name: str) -> None:
        """get, get_all and `in` find a header under any spelling of its name."""
        h = Headers({"X-IOV-JWT": "abc"})
        assert h.get(name) == "abc"
        assert h.get_all(name) == ["abc"]
        assert name in h

    def test_missing_header(self) -> None:
        """An absent header gives the default, an empty list and False."""
        h = Headers([("A", "1")])
        assert h.get("B") is None
        assert h.get("B", "d") == "d"
        assert h.get_all("B") == []
        assert "B" not in h
        assert 1 not in h

    def test_multiple_values_keep_order(self) -> None:
        """Repeated headers keep every value in order; get returns the first."""
        h = Headers([("Set", "1"), ("set", "2"), ("SET", ["3", "4"])])
        assert h.get_all("set") == ["1", "2", "3", "4"]
        assert h.get("Set") == "1"
        assert len(h) == 4

    def test_accepts_mapping_pairs_framework_objects_and_headers(self) -> None:
        """Mappings, pair lists, items()-objects and Headers build the same thing."""
        # Not a Mapping in the type sense; Headers accepts it by duck typing.
        from_obj = Headers(_FrameworkHeaders())  # type: ignore[arg-type]
        assert from_obj.get("x-iov-jwt") == "token"
        assert Headers(from_obj) == from_obj
        assert Headers({"x-iov-jwt": "token", "location": "/x"}) == from_obj

    def test_bytes_names_and_values_are_latin1_text(self) -> None:
        """Raw ASGI (bytes, bytes) pairs are decoded as latin-1, names included."""
        raw = [(b"X-IOV-JWT", b"tok\xe9"), (b"Location", [b"/a"])]
        h = Headers(raw)  # type: ignore[arg-type]
        assert h.get("x-iov-jwt") == "tok\u00e9"
        assert h.get("location") == "/a"
        assert next(iter(h))[0] == "X-IOV-JWT"

    def test_equal_headers_hash_equal(self) -> None:
        """Headers equal up to name case have equal hashes (usable as dict keys)."""
        a, b = Headers([("Location", "/x")]), Headers([("location", "/x")])
        assert a == b
        assert hash(a) == hash(b)
        assert a != Headers([("Location", "/y")])

    def test_too_many_values_refused(self) -> None:
        """More than 256 header values is refused as hostile input."""
        with pytest.raises(ValueError, match="256"):
            Headers([("h", str(i)) for i in range(300)])

    @pytest.mark.parametrize("bad", [[("only-name",)], [1, 2], 7])
    def test_malformed_input_is_type_or_value_error(self, bad: object) -> None:
        """Input that is not name/value pairs raises TypeError or ValueError."""
        with pytest.raises((TypeError, ValueError)):
            Headers(bad)  # type: ignore[arg-type]

    def test_repr_hides_values(self) -> None:
        """The repr names headers but never shows their values (they carry tokens)."""
        h = Headers({"Authorization": "IOV-JWT secret.token.here"})
        assert "Authorization" in repr(h)
        assert "secret" not in repr(h)


class TestHttpValues:
    def test_reprs_hide_bodies_and_headers(self) -> None:
        """HttpRequest and HttpResponse reprs show shape, never tokens or bodies."""
        req = HttpRequest(
            method="POST",
            path="/p",
            headers=(("Authorization", "IOV-JWT secret"),),
            body=b"ciphertext",
        )
        resp = HttpResponse(
            status=200, headers=Headers({"X-IOV-JWT": "secret"}), body=b"x"
        )
        assert repr(req) == "HttpRequest(POST /p, 10 body bytes)"
        assert repr(resp) == "HttpResponse(200, 1 body bytes)"
        assert "secret" not in repr(req) + repr(resp)

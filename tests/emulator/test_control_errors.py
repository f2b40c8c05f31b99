"""Control-API refusals read as plain sentences, with the right status."""

from __future__ import annotations

import pytest

from lk_io.emulator import ControlError, VirtualDevice
from lk_io.testing import running_emulator


def test_unknown_device_is_not_found_and_bad_fail_reason_lists_choices() -> None:
    """Answering as a device that does not exist is a 404; a made-up failure reason
    is refused with the allowed ones, as text rather than a Python dict."""
    with running_emulator(user="ctl@example.com") as lk:
        ghost = VirtualDevice(lk.emulator.base_url, "no-such-device", "nobody")
        with pytest.raises(ControlError) as caught:
            ghost.approve()
        assert caught.value.status == 404
        assert "device not found" in str(caught.value)

        lk.client.authorization_request(lk.user)
        with pytest.raises(ControlError) as caught:
            lk.device.fail(reason="BOGUS")
        assert caught.value.status == 400
        message = str(caught.value)
        assert message.startswith("400: fail_reason: must be one of POLICY")
        assert "{" not in message

"""A local LaunchKey platform for tests and demos, served on 127.0.0.1."""

from lk_io.emulator._clock import Clock
from lk_io.emulator._device import ControlError, EmulatorControl, VirtualDevice
from lk_io.emulator._directory import DirectoryCalls
from lk_io.emulator._emulator import Credentials, Emulator
from lk_io.emulator._receiver import Received, WebhookReceiver

__all__ = [
    "Clock",
    "ControlError",
    "Credentials",
    "DirectoryCalls",
    "Emulator",
    "EmulatorControl",
    "Received",
    "VirtualDevice",
    "WebhookReceiver",
]

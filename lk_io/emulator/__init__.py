"""A local LaunchKey platform for tests and demos, served on 127.0.0.1."""

from lk_io.emulator._clock import Clock
from lk_io.emulator._emulator import Credentials, Emulator

__all__ = ["Clock", "Credentials", "Emulator"]

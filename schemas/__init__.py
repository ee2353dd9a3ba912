"""Wire models and configuration of flexbridge (pydantic v2, orjson codecs)."""

from schemas.errors import FlexbridgeError, InvalidEvent
from schemas.settings import Settings

__all__ = ["FlexbridgeError", "InvalidEvent", "Settings"]

"""Wire models of flexbridge and their orjson codecs: one module per message family."""

__all__: list[str] = []

"""One context-manager shape for what tailcfg opens and must close (clients, servers, LANs)."""

from __future__ import annotations

from typing import Self


class Closing:
    """A context manager whose exit calls :meth:`close`, also when the body raised."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

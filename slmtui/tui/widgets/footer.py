"""The key footer, rebuilt only when the keys it shows change.

Textual's Footer throws its keys away and mounts new ones every time a screen is shown, which was
the largest share of a screen switch here (about 40% of the UI thread's time per switch, mostly
restyling each new key). Switching between the app's screens does not change their keys, so the
footer keeps the keys it has unless the set (key, label, enabled, tooltip) is different.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen) -> tuple:
    """What the footer would show for a screen's active bindings, as a comparable value."""
    return tuple(
        (key, binding.action, binding.description, binding.key_display, binding.show,
         getattr(binding.group, "description", None), enabled, tooltip)
        for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
    )  # fmt: skip


class KeyFooter(Footer):
    """A Footer that skips the rebuild when a screen comes back with the same keys."""

    _shown: tuple | None = None

    def compose(self):
        if self._bindings_ready:
            self._shown = shown_keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if (
            self._shown is not None
            and self.is_attached
            and screen is self.screen
            and shown_keys(screen) == self._shown
        ):
            return
        super().bindings_changed(screen)
